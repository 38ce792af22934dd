"""The Android package, checked without an Android SDK (docs/android.md).

buildozer.spec says what goes into the APK: the modules left after its exclusions and the
`requirements` python-for-android installs (one by one, without their dependencies). Two
things can break a handheld build or its first start without any SDK being involved:

- a handheld module imports something that is not in `requirements` (FastAPI, SQLAlchemy,
  uvicorn, a test tool…): the app would die at start on the device. Checked by importing
  every packaged module in a fresh interpreter where every installed distribution that is
  not a requirement is made unimportable (a meta-path finder refusing its top-level names).
- a requirement has native code and no python-for-android recipe: the build fails, or the
  package installs an extension built for the build machine. Checked against the recipe list
  of the python-for-android package from PyPI (installed by the dev extra); a distribution
  with compiled modules and no recipe passes only if it imports with those modules refused
  (PyYAML and charset-normalizer fall back to their pure-Python code).
"""
from __future__ import annotations

import configparser
import fnmatch
import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "buildozer.spec"
OWN_PACKAGES = ("terminal", "sync", "devices", "fieldrules")
SERVER_PACKAGES = ("fastapi", "starlette", "sqlalchemy", "uvicorn", "alembic", "pydantic",
                   "prometheus_client", "httptools", "uvloop", "psycopg")


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _spec() -> configparser.RawConfigParser:
    spec = configparser.RawConfigParser()
    spec.read(SPEC, encoding="utf-8")
    return spec


def _spec_list(key: str) -> list[str]:
    return [item.strip() for item in _spec().get("app", key, fallback="").split(",") if item.strip()]


def requirements() -> list[str]:
    """Requirement names of buildozer.spec, versions dropped."""
    return [re.split(r"[=<>!~\[ ]", item, maxsplit=1)[0] for item in _spec_list("requirements")]


def packaged_modules() -> list[str]:
    """Dotted names of the Python modules buildozer puts into the APK."""
    exclude_dirs = [d.strip("/") for d in _spec_list("source.exclude_dirs")]
    exclude_patterns = _spec_list("source.exclude_patterns")
    found = ["main"]
    for package in OWN_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if any(rel.startswith(d + "/") for d in exclude_dirs):
                continue
            if any(fnmatch.fnmatch(rel, pattern) for pattern in exclude_patterns):
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found.append(".".join(parts))
    return found


def blocked_top_level_names(allowed: set[str]) -> list[str]:
    """Top-level import names of installed distributions that are not handheld requirements."""
    blocked = set()
    for top, dists in metadata.packages_distributions().items():
        if top in OWN_PACKAGES or top.startswith("_") and top != "_yaml":
            continue
        if not any(_norm(d) in allowed for d in dists):
            blocked.add(top)
    return sorted(blocked)


_CHILD = r"""
import importlib, importlib.abc, json, os, sys
blocked = set(json.loads(sys.argv[1]))
modules = json.loads(sys.argv[2])

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked or name in blocked:
            raise ModuleNotFoundError(f"{name} is not a handheld requirement", name=name)
        return None

sys.meta_path.insert(0, Refuse())
sys.path.insert(0, os.getcwd())
from terminal.ui import headless
headless.prepare(sys.argv[3], headless=True)
failed = {}
for name in modules:
    try:
        importlib.import_module(name)
    except Exception as exc:   # report every module, not just the first
        failed[name] = f"{type(exc).__name__}: {exc}"
third_party = sorted({m.split(".")[0] for m in sys.modules}
                     - set(sys.stdlib_module_names) - {"terminal", "sync", "devices",
                                                       "fieldrules", "main", "__main__"})
print(json.dumps({"failed": failed, "loaded": third_party}))
"""


def _run_child(code: str, *args: str, tmp_path: Path, path: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    if path is not None:
        env["PATH"] = path
    result = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_spec_names_no_gateway_package_and_app_private_data():
    names = {_norm(r) for r in requirements()}
    gateway_extra = {_norm(re.split(r"[=<>!~\[; ]", r, maxsplit=1)[0])
                     for r in metadata.metadata("chaoshou").get_all("Requires-Dist")
                     if "extra == \"gateway\"" in r or "extra == 'gateway'" in r}
    assert gateway_extra, "pyproject.toml's gateway extra not found in the installed metadata"
    assert not names & gateway_extra, names & gateway_extra
    assert not names & {_norm(p) for p in SERVER_PACKAGES}
    permissions = {p.strip() for p in _spec().get("app", "android.permissions").split(",")}
    assert {"CAMERA", "ACCESS_FINE_LOCATION"} <= permissions
    assert "android.hardware.usb.host" in _spec().get("app", "android.features")
    assert "usbserial4a" in names


def test_handheld_modules_import_with_only_the_handheld_requirements(tmp_path):
    allowed = {_norm(r) for r in requirements()}
    modules = packaged_modules()
    assert "terminal.ui.app" in modules and "sync.worker" in modules
    assert not any(m.startswith(("sync.gateway", "devices.sim", "tests")) for m in modules)
    blocked = blocked_top_level_names(allowed)
    assert {"fastapi", "sqlalchemy", "uvicorn"} <= set(blocked)
    report = _run_child(_CHILD, json.dumps(blocked), json.dumps(modules), str(tmp_path),
                        tmp_path=tmp_path)
    assert report["failed"] == {}
    assert not set(report["loaded"]) & set(SERVER_PACKAGES)


_NATIVE_CHILD = r"""
import importlib, importlib.abc, importlib.util, json, sys
refused = json.loads(sys.argv[1])      # compiled module -> its pure-Python twin, or None
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name in refused:
            if refused[name] is None:
                raise ModuleNotFoundError(name, name=name)
            return importlib.util.spec_from_file_location(name, refused[name])
        return None
sys.meta_path.insert(0, Refuse())
failed = {}
for top in json.loads(sys.argv[2]):
    try:
        importlib.import_module(top)
    except Exception as exc:
        failed[top] = f"{type(exc).__name__}: {exc}"
print(json.dumps({"failed": failed}))
"""


def _recipes() -> set[str]:
    import pythonforandroid  # the dev extra installs python-for-android from PyPI
    folder = Path(pythonforandroid.__file__).parent / "recipes"
    return {_norm(p.name) for p in folder.iterdir() if (p / "__init__.py").is_file()}


def _native_modules(dist: metadata.Distribution) -> dict[str, str | None]:
    """Compiled modules of `dist`, each with the path of a pure-Python twin it ships, or None."""
    files = {str(f): f for f in dist.files or ()}
    native = {}
    for file in files.values():
        name = file.name
        if name.endswith((".so", ".pyd")) and ".libs" not in str(file):
            stem = name.split(".", 1)[0]
            twin = "/".join([*file.parts[:-1], stem + ".py"])
            native[".".join([*file.parts[:-1], stem])] = \
                str(files[twin].locate()) if twin in files else None
    return native


def test_every_requirement_is_pure_python_or_has_a_recipe(tmp_path):
    recipes = _recipes()
    assert {"kivy", "pillow", "sqlite3", "pyjnius"} <= recipes   # the list really was read
    problems = []
    for name in requirements():
        if _norm(name) in recipes:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            problems.append(f"{name}: no recipe, and not installed here to check it is pure Python")
            continue
        wheel = dist.read_text("WHEEL") or ""
        if "Root-Is-Purelib: true" in wheel:
            continue
        native = _native_modules(dist)
        tops = [t for t in (dist.read_text("top_level.txt") or "").split() if not t.startswith("_")]
        report = _run_child(_NATIVE_CHILD, json.dumps(native), json.dumps(tops), tmp_path=tmp_path)
        if not native or report["failed"]:
            problems.append(f"{name}: compiled modules {native} and no python-for-android recipe "
                            f"({report['failed']})")
    assert problems == []


def test_packaged_catalogs_are_compiled_at_build_and_read_without_a_compiler(tmp_path):
    """The build step compiles each .po with Babel into the .mo a package carries; an app
    with only those .mo (no .po, no Babel, no msgfmt: a handheld) translates every message."""
    import shutil

    from babel.messages.pofile import read_po

    from terminal.ui import i18n
    locale = tmp_path / "assets" / "locale"
    shutil.copytree(i18n.LOCALE_DIR, locale, ignore=shutil.ignore_patterns("*.mo"))
    child = r"""
import builtins, json, os, sys
from pathlib import Path
real_import = builtins.__import__
def no_babel(name, *a, **k):
    if name.split(".")[0] == "babel":
        raise ImportError("no Babel on a handheld")
    return real_import(name, *a, **k)
from terminal.ui import i18n
i18n.LOCALE_DIR = Path(sys.argv[1])
if sys.argv[2] == "build":
    i18n.compile_all()
    for po in i18n.LOCALE_DIR.glob("*/LC_MESSAGES/*.po"):
        po.unlink()                               # the APK carries no .po
    print(json.dumps({}))
else:
    builtins.__import__ = no_babel
    msgids = json.loads(sys.argv[3])
    print(json.dumps({lang: {m: i18n.load(lang).gettext(m) for m in msgids[lang]}
                      for lang in msgids}))
"""
    expected: dict[str, dict[str, str]] = {}
    for po in sorted(locale.glob("*/LC_MESSAGES/*.po")):
        with open(po, "rb") as fh:
            for message in read_po(fh):
                if message.id and message.string and not message.fuzzy \
                        and isinstance(message.id, str):
                    expected.setdefault(po.parent.parent.name, {}).setdefault(message.id,
                                                                              message.string)
    assert set(expected) == {"zh", "en"}
    env_path = str(tmp_path / "empty-bin")                  # no msgfmt on PATH either
    os.mkdir(env_path)
    _run_child(child, str(locale), "build", tmp_path=tmp_path)
    assert not list(locale.glob("*/LC_MESSAGES/*.po")) and list(locale.glob("*/LC_MESSAGES/*.mo"))
    got = _run_child(child, str(locale), "load",
                     json.dumps({lang: sorted(m) for lang, m in expected.items()}),
                     tmp_path=tmp_path, path=env_path)
    for lang, messages in expected.items():
        wrong = {m: got[lang][m] for m, text in messages.items() if got[lang][m] != text}
        assert wrong == {}, f"{lang}: {len(wrong)} messages not translated"
