"""Griffe extension for the API reference: doctest blocks outside an indented ``Examples:``
section become fenced ``pycon`` code.

Google-style parsing turns ``>>>`` lines into code only inside an ``Example(s):`` section whose
body is indented under the header. Docstrings that write the doctest flush with the header (or in
the summary) would otherwise render as Markdown paragraphs, where ``d["a"]["b"]`` reads as a
reference link and fails the strict build. Loaded by ``mkdocs.yml`` (mkdocstrings' ``extensions``).
"""

import re

import griffe

_SECTION = re.compile(r"^(\s*)Examples?:\s*$")
_PROMPT = re.compile(r"^(\s*)>>>( |$)")


def _indent(line):
    return len(line) - len(line.lstrip())


def fence_doctests(text):
    """Wraps each doctest block (``>>>`` lines, their ``...`` continuations and output, up to the
    next blank line) in a fenced code block, unless griffe will read it as an example."""
    lines = text.split("\n")
    out = []
    section_indent = None  # indentation of the open Example(s): header, if any
    i = 0
    while i < len(lines):
        line = lines[i]
        header = _SECTION.match(line)
        if header:
            section_indent = len(header.group(1))
            out.append(line)
            i += 1
            continue
        if line.strip() and section_indent is not None and _indent(line) <= section_indent:
            section_indent = None  # dedented: the section is over
        prompt = _PROMPT.match(line)
        if prompt and section_indent is None:
            pad = prompt.group(1)
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i])
                i += 1
            if out and out[-1].strip():
                out.append("")
            out += [pad + "```pycon", *block, pad + "```"]
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


class FenceDoctests(griffe.Extension):
    """Applies `fence_doctests` to every docstring griffe loads."""

    def on_instance(self, *, obj, **kwargs):
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
