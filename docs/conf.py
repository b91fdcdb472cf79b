"""Sphinx configuration for the swimcore documentation (``make docs``)."""

from __future__ import annotations

import importlib.metadata

project = "swimcore"
author = "The swimcore authors"
copyright = "2026, the swimcore authors"
release = importlib.metadata.version("swimcore")
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

# Every cross-reference must resolve: a broken one fails the build (make docs runs with -W).
nitpicky = True
# The build runs offline (no intersphinx inventories), so names from the standard library and
# from attrs that appear in signatures are the only ones allowed to stay unresolved.
nitpick_ignore_regex = [
    (
        "py:(class|func|exc|data|obj)",
        r"(attr|attrs|random|collections\.abc|ipaddress|enum|typing|logging|os)\..*",
    ),
    # Internal classes that appear in public signatures: the drivers' common base class and the
    # buffer behind each event stream (users never build either).
    (
        "py:class",
        r"(swimcore\.transports\.(member|events)\.)?(MemberBase|AsyncLifecycle|EventBuffer|Flag)",
    ),
    # The member table's own record (internal; the API hands out MemberInfo), named by the
    # roster's helper for anti-entropy digests.
    ("py:class", r"swimcore\.members\.Member"),
    # The wire's messages (internal: the Wire protocol's signatures name them, users of a
    # shipped wire profile never build one).
    ("py:class", r"swimcore\.messages\.\w+"),
    # The node's private parts (probing, membership, exchanges) are its base classes.
    ("py:class", r"swimcore\._(probing|membership|exchanges)\.\w+"),
    ("py:(class|exc|obj)", r"(int|float|str|bytes|bool|None|object|Exception|ValueError)"),
]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "furo"
html_title = f"swimcore {release}"
exclude_patterns = ["_build", "screenshots"]
