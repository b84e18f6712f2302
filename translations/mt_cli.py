"""Manage the Argos Translate packages behind `translations.mt.ArgosTranslator`.

    python -m translations.mt_cli list
    python -m translations.mt_cli install <file.argosmodel>
    python -m translations.mt_cli install-index <from> <to>

Packages live under $RIGHTSLINE_ARGOS_HOME (default `<repo>/var/argos`), in `packages/`; the
gateway reads the same directory (its `argos_home` setting). `install` works offline with a
package file; `install-index` downloads the Argos package index and the package, so it needs
network. Argos pivots through English: for pl->sv install pl->en and en->sv. A running gateway
sees new packages after `ArgosTranslator.refresh()` or a restart.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
import zipfile
from pathlib import Path

from translations.mt import configure_argos_home

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_HOME = REPO_ROOT / "var" / "argos"
NETWORK_TIMEOUT_S = 60


class CliError(Exception):
    pass


def argos_home() -> Path:
    return Path(os.environ.get("RIGHTSLINE_ARGOS_HOME", str(DEFAULT_HOME)))


def _installed():  # noqa: ANN202 - argostranslate types are imported lazily
    from argostranslate import package

    try:
        packages = package.get_installed_packages()
    except FileNotFoundError as err:  # a folder without metadata.json in the packages dir
        raise CliError(f"broken package directory: {err}") from err
    return sorted((p for p in packages if p.type == "translate"),
                  key=lambda p: (p.from_code, p.to_code))


def cmd_list(args: argparse.Namespace) -> int:
    from argostranslate import settings

    packages = _installed()
    if not packages:
        print(f"No Argos packages installed in {settings.package_data_dir}.")
        return 0
    for p in packages:
        print(f"{p.from_code}->{p.to_code}\t{p.from_name} -> {p.to_name}\t"
              f"version {p.package_version}\t{p.package_path}")
    return 0


def _read_package_file(path: Path) -> tuple[str, dict]:
    """The top folder and metadata of an .argosmodel file; CliError if it is not one."""
    if not path.is_file():
        raise CliError(f"no such file: {path}")
    if not zipfile.is_zipfile(path):
        raise CliError(f"not an Argos package (not a zip archive): {path}")
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        tops = {name.split("/", 1)[0] for name in names}
        if len(tops) != 1 or f"{next(iter(tops))}/metadata.json" not in names:
            raise CliError(f"not an Argos package (needs one top folder with metadata.json): "
                           f"{path}")
        top = next(iter(tops))
        try:
            metadata = json.loads(zf.read(f"{top}/metadata.json"))
        except ValueError as err:
            raise CliError(f"bad metadata.json in {path}: {err}") from err
    if not metadata.get("from_code") or not metadata.get("to_code"):
        raise CliError(f"metadata.json in {path} has no from_code/to_code")
    return top, metadata


def _install_file(path: Path) -> None:
    from argostranslate import package, settings

    top, metadata = _read_package_file(path)
    target = Path(settings.package_data_dir) / top
    if target.is_dir():  # replace, so files of an older version do not linger
        package.uninstall(package.Package(target))
    package.install_from_path(path)
    print(f"Installed {metadata['from_code']}->{metadata['to_code']} "
          f"(version {metadata.get('package_version', '?')}) into {target}")


def cmd_install(args: argparse.Namespace) -> int:
    _install_file(Path(args.file))
    return 0


def cmd_install_index(args: argparse.Namespace) -> int:
    from argostranslate import package, settings

    socket.setdefaulttimeout(NETWORK_TIMEOUT_S)  # Argos' urlopen calls have no timeout
    index = Path(settings.local_package_index)

    def stamp() -> int | None:
        return index.stat().st_mtime_ns if index.exists() else None

    before = stamp()
    package.update_package_index()  # logs and returns on failure, it does not raise
    after = stamp()
    if after is None or after == before:
        raise CliError(
            f"could not download the Argos package index from {settings.remote_package_index} "
            "(no network?). Offline, bring the .argosmodel file over another way and run: "
            "python -m translations.mt_cli install <file.argosmodel>")
    wanted = [p for p in package.get_available_packages()
              if p.type == "translate" and p.from_code == args.from_code
              and p.to_code == args.to_code]
    if not wanted:
        raise CliError(
            f"the Argos index has no {args.from_code}->{args.to_code} package. Argos pivots "
            f"through English: install {args.from_code}->en and en->{args.to_code}.")
    available = max(wanted, key=lambda p: _version_key(p.package_version))
    try:
        downloaded = available.download()
    except Exception as err:  # Argos raises a bare Exception when every link fails
        raise CliError(f"could not download {available}: {err}") from err
    try:
        _install_file(Path(downloaded))
    finally:
        Path(downloaded).unlink(missing_ok=True)
    return 0


def _version_key(version: str) -> tuple:
    return tuple(int(part) if part.isdigit() else 0 for part in str(version).split("."))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m translations.mt_cli",
        description="Manage Argos Translate packages (in $RIGHTSLINE_ARGOS_HOME/packages, "
        f"default {DEFAULT_HOME}/packages).")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list installed packages").set_defaults(func=cmd_list)
    install = sub.add_parser("install", help="install a local .argosmodel file (offline)")
    install.add_argument("file")
    install.set_defaults(func=cmd_install)
    index = sub.add_parser("install-index",
                           help="download and install a package from the Argos index (network)")
    index.add_argument("from_code")
    index.add_argument("to_code")
    index.set_defaults(func=cmd_install_index)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    home = argos_home()
    if "stanza" in str(home).lower() or "minisbd" in str(home).lower():
        # Argos picks its sentence splitter by looking for these words in package paths.
        print(f"error: the Argos home must not contain 'stanza' or 'minisbd': {home}",
              file=sys.stderr)
        return 1
    configure_argos_home(home)  # before argostranslate is imported
    try:
        return args.func(args)
    except CliError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
