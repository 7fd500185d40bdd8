"""Offline stand-in for the get-pip script that ansible-test downloads.

ansible-test runs it (as __main__, saved as get_pip_<X_Y>.py) to put pip X.Y
into the venvs it makes. This version runs pip from the pip X.Y wheel that
scripts/bootstrap.sh downloads from PyPI into $ULTRAAI_CACHE/wheels. Options
meant for get-pip itself (--no-setuptools, --no-wheel) are dropped.
"""
import glob
import os
import sys

CACHE = os.environ.get("ULTRAAI_CACHE", "/var/cache/ultraai-platform")


def main():
    version = os.path.splitext(os.path.basename(__file__))[0].replace("get_pip_", "").replace("_", ".")
    wheels = sorted(glob.glob(os.path.join(CACHE, "wheels", "pip-%s-*.whl" % version)))
    if not wheels:
        sys.exit("pip %s wheel missing from %s/wheels: run scripts/bootstrap.sh" % (version, CACHE))
    sys.path.insert(0, wheels[0])
    from pip._internal.cli.main import main as pip_main  # pylint: disable=import-outside-toplevel

    args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
    sys.exit(pip_main(["install", "--no-cache-dir", "--ignore-installed"] + args))


if __name__ == "__main__":
    main()
