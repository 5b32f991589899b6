"""The web app's strings: every catalog holds every key a page or a script asks for."""

import json
import re

from minemap.webapp import LANGUAGES, WEB

USED = [
    # templates: t['key']; scripts: t("key") and the keys they build (field.<name> etc.)
    (WEB / "templates", r"""t\['([^']+)'\]"""),
    (WEB / "static", r"""\bt\("([^"]+)"""),
]


def catalog(language: str) -> dict:
    return json.loads((WEB / "i18n" / f"{language}.json").read_text(encoding="utf-8"))


def test_every_catalog_has_the_same_keys_and_no_empty_string():
    english = catalog("en")
    for language in LANGUAGES:
        strings = catalog(language)
        assert set(strings) == set(english), language
        assert all(isinstance(v, str) and v.strip() for v in strings.values()), language
        # The same placeholders, so that no value goes missing in a translation.
        for key, text in english.items():
            assert set(re.findall(r"\{\w+\}", strings[key])) == set(
                re.findall(r"\{\w+\}", text)), (language, key)


def test_every_key_asked_for_is_in_the_catalogs():
    english = catalog("en")
    asked = set()
    for folder, pattern in USED:
        for path in folder.glob("*.*"):
            if path.suffix in (".html", ".js"):
                asked |= set(re.findall(pattern, path.read_text(encoding="utf-8")))
    asked = {key for key in asked if not key.endswith(".")}  # prefixes built on in scripts
    assert asked and asked - set(english) == set()
