"""Offline stand-in for the get-pip script that ansible-test downloads.

ansible-test runs it (as __main__) to put pip into the venvs it makes. This
version runs pip from the pip 24.2 wheel that scripts/bootstrap.sh downloads
from PyPI into $ULTRAAI_CACHE/wheels. Options meant for get-pip itself
(--no-setuptools, --no-wheel) are dropped.
"""
import glob
import os
import sys

CACHE = os.environ.get("ULTRAAI_CACHE", "/var/cache/ultraai-platform")


def main():
    wheels = sorted(glob.glob(os.path.join(CACHE, "wheels", "pip-24.2-*.whl")))
    if not wheels:
        sys.exit("pip 24.2 wheel missing from %s/wheels: run scripts/bootstrap.sh" % CACHE)
    sys.path.insert(0, wheels[0])
    from pip._internal.cli.main import main as pip_main  # pylint: disable=import-outside-toplevel

    args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
    sys.exit(pip_main(["install", "--no-cache-dir", "--ignore-installed"] + args))


if __name__ == "__main__":
    main()
