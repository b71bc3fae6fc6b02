"""tools/setup_venv.py, which `make setup` runs: uv gets the package sources pip would use,
and pip takes over, saying so, when uv cannot do the install."""
from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "tools"))
import setup_venv  # noqa: E402

CONFIG_LIST = """\
global.cert='/etc/ssl/certs/ca-certificates.crt'
global.extra-index-url='file:///opt/a/simple file:///opt/b/simple'
global.find-links='/opt/global-wheels'
global.constraint='/etc/xdg/pip/constraints.txt'
install.find-links='/opt/install-wheels'
:env:.find-links='/opt/env-wheels'
:env:.default-timeout='180'
site.index-url='https://ignored.example/simple'
not a setting
"""


def test_pip_settings_take_each_option_from_the_section_pip_prefers():
    settings = setup_venv.pip_settings(CONFIG_LIST)
    assert settings["find-links"] == "/opt/env-wheels"  # PIP_FIND_LINKS over install over global
    assert settings["extra-index-url"] == "file:///opt/a/simple file:///opt/b/simple"
    assert settings["cert"] == "/etc/ssl/certs/ca-certificates.crt"
    assert "index-url" not in settings  # a section pip's install does not read


def test_uv_gets_every_index_constraint_and_certificate_and_pips_best_match():
    args, env = setup_venv.uv_arguments(setup_venv.pip_settings(CONFIG_LIST))
    pairs = list(zip(args[::2], args[1::2]))
    assert ("--index-strategy", "unsafe-best-match") in pairs
    assert ("--extra-index-url", "file:///opt/a/simple") in pairs
    assert ("--extra-index-url", "file:///opt/b/simple") in pairs
    assert ("--find-links", "/opt/env-wheels") in pairs
    assert ("--constraints", "/etc/xdg/pip/constraints.txt") in pairs
    assert "--index-url" not in args
    assert env == {"SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt"}
    args, _ = setup_venv.uv_arguments({"index-url": "https://mirror.example/simple", "no-index": "true"})
    assert args[-3:] == ["--index-url", "https://mirror.example/simple", "--no-index"]


def test_this_machines_pip_configuration_reaches_uv():
    """Whatever extra indexes pip is configured with here (the files torch comes from), uv gets them."""
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    settings = setup_venv.pip_settings(listed)
    args, _ = setup_venv.uv_arguments(settings)
    for url in settings.get("extra-index-url", "").split():
        assert url in args


def test_when_uv_fails_pip_installs_both_lists_after_one_line(monkeypatch, capsys, tmp_path):
    python = tmp_path / "python"
    python.write_text("")
    commands = []

    def fake_subprocess_run(command, **kwargs):
        commands.append(command)
        return subprocess.CompletedProcess(command, 0, "", "")
    monkeypatch.setattr(setup_venv, "install_with_uv", lambda py: "pip could not install uv==0.13.9: no index")
    monkeypatch.setattr(setup_venv.subprocess, "run", fake_subprocess_run)
    monkeypatch.setattr(setup_venv, "compile_bytecode", lambda py: None)
    assert setup_venv.main([str(python)]) == 0
    assert capsys.readouterr().err.strip() == (
        "setup: pip could not install uv==0.13.9: no index; installing with pip instead (slower)")
    requirements, data = commands
    assert requirements[-2:] == ["-r", str(REPO / "requirements.txt")] and "--no-deps" not in requirements
    assert data[-3:] == ["--no-deps", "-r", str(REPO / "requirements-data.txt")]


def test_a_failed_pip_install_names_the_list(monkeypatch, capsys, tmp_path):
    python = tmp_path / "python"
    python.write_text("")
    monkeypatch.setattr(setup_venv.subprocess, "run",
                        lambda command, **kw: subprocess.CompletedProcess(command, 1, "", ""))
    assert setup_venv.main([str(python), "--pip"]) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == "setup: pip could not install requirements.txt"


def test_a_missing_interpreter_is_refused_by_name(tmp_path, capsys):
    with pytest.raises(SystemExit):
        setup_venv.main([str(tmp_path / "nowhere" / "python")])
    assert "python: no interpreter at" in capsys.readouterr().err


@pytest.mark.parametrize("has_uv", [True, False])
def test_install_into_a_folder_uses_uv_when_the_venv_has_it(monkeypatch, tmp_path, has_uv):
    """What tests/test_transformers_versions.py installs the oldest transformers with."""
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    python.write_text("")
    if has_uv:
        (tmp_path / "bin" / "uv").write_text("")
    commands, compiled = [], []

    def fake_run(command, env=None, timeout=None):
        commands.append(command)
        return subprocess.CompletedProcess(command, 0, "global.extra-index-url='file:///opt/x/simple'\n", "")
    monkeypatch.setattr(setup_venv, "run", fake_run)
    monkeypatch.setattr(setup_venv, "compile_bytecode", lambda py, folder: compiled.append(folder))
    target = tmp_path / "target"
    assert setup_venv.install_into(str(python), ["transformers==4.46.3"], target) is None
    install = commands[-1]
    assert install[-1] == "transformers==4.46.3" and "--no-deps" in install
    assert install[install.index("--target") + 1] == str(target)
    if has_uv:
        assert install[:3] == [str(tmp_path / "bin" / "uv"), "pip", "install"]
        assert "file:///opt/x/simple" in install  # pip's indexes, as for the venv
    else:
        assert install[1:4] == ["-m", "pip", "install"] and "--no-compile" in install
    assert compiled == [target]
