# Sourced by the install-*.sh scripts: `apt_install WHO PACKAGE...` installs Debian packages with
# apt-get, as root or through sudo; without either it says so (prefixed with WHO) and fails.
apt_install() {
    local who="$1" sudo=""
    shift
    echo "$who: installing Debian's $* with apt-get" >&2
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null; then
            echo "$who: need root (or sudo) to run apt-get install $*" >&2
            return 1
        fi
        sudo="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq "$@" >/dev/null
}
