#!/usr/bin/env python3
"""Real multilingual sentences for the language-detection benchmark.

Debian ships the translations of its programs' messages as gettext catalogs
(/usr/share/locale/LANG/LC_MESSAGES/*.mo): real text written by people, in
dozens of languages. This prints `lang<TAB>text` lines (ISO 639-1 code from the
folder name; zh_CN and zh_TW count as zh) for translated messages of at least MIN_CHARS characters, with
format placeholders, option names and markup removed, at most PER_LANG per
language, deduplicated.

Usage: python3 benches/peer/gettext_samples.py [PER_LANG] [MIN_CHARS] > samples.tsv
"""
import gettext
import glob
import os
import re
import sys

per_lang = int(sys.argv[1]) if len(sys.argv) > 1 else 300
min_chars = int(sys.argv[2]) if len(sys.argv) > 2 else 40
PLACEHOLDER = re.compile(r"%[-#0 +'I]*[0-9*]*(?:\.[0-9*]+)?(?:hh|h|ll|l|L|q|j|z|t)?[diouxXeEfFgGaAcspnm%]|\{[^}]*\}|<[^>]*>|--?[a-zA-Z][-a-zA-Z]*|\\[nt]|[_&](?=\w)")

for folder in sorted(glob.glob("/usr/share/locale/*")):
    name = os.path.basename(folder)
    if not re.fullmatch(r"[a-z]{2}(_[A-Z]{2})?", name) or name.startswith("en"):
        continue
    lang = name[:2]
    if lang != name and os.path.isdir(f"/usr/share/locale/{lang}"):
        continue  # pt_BR beside pt: one sample per language
    seen = set()
    out = []
    for mo in sorted(glob.glob(f"{folder}/LC_MESSAGES/*.mo")):
        try:
            with open(mo, "rb") as f:
                cat = gettext.GNUTranslations(f)._catalog
        except Exception:
            continue
        for key, text in cat.items():
            if not isinstance(text, str) or not key:
                continue
            text = " ".join(PLACEHOLDER.sub(" ", text).split())
            if len(text) < min_chars or text in seen:
                continue
            seen.add(text)
            out.append(text)
    # Deterministic spread over the catalogs: every k-th message.
    step = max(1, len(out) // per_lang)
    for text in out[::step][:per_lang]:
        print(f"{lang}\t{text}")
