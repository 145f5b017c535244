"""``python -m autograder grade ...``: the batch grader's command line."""

import sys

from autograder.grade.cli import main

sys.exit(main())
