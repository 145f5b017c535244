"""nbgrader configuration: the course folder is this repository.

Instructors edit ``solutions/`` (nbgrader's *source*), run ``make release`` to regenerate the
student notebooks in ``notebooks/`` (nbgrader's *release*), and grade ``submitted/``.
"""

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

c.CourseDirectory.root = "."
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"

# Student notebooks keep the exercise but not the answer.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
# A student's infinite loop must not hang grading.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
