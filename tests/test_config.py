"""qa.config: each process default and environment variable, read in one place."""

from pathlib import Path

from qa import config


def test_an_explicit_value_wins_then_the_environment_then_the_default(monkeypatch):
    monkeypatch.delenv(config.PORT_VARIABLE, raising=False)
    assert config.setting(None, config.PORT_VARIABLE, config.PORT) == 7860
    monkeypatch.setenv(config.PORT_VARIABLE, "9999")
    assert config.setting(None, config.PORT_VARIABLE, config.PORT) == "9999"
    assert config.setting(0, config.PORT_VARIABLE, config.PORT) == "9999"  # 0: not given
    assert config.setting(8000, config.PORT_VARIABLE, config.PORT) == 8000
    monkeypatch.setenv(config.PORT_VARIABLE, "")  # set but empty: not given either
    assert config.setting(None, config.PORT_VARIABLE, config.PORT) == 7860


def test_the_corpus_folder(monkeypatch, tmp_path):
    assert config.corpus_folder("docs") == "docs"
    monkeypatch.chdir(tmp_path)  # no seeds/ here: the project's own
    assert Path(config.corpus_folder()) == config.default_folder()
    assert (config.default_folder() / "000_0b88324673b57412.txt").is_file()
    (tmp_path / "seeds").mkdir()  # a seeds/ in the working directory comes first
    assert config.corpus_folder() == "seeds"
