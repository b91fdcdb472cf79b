"""mypyc's class decorators for the compiled build; at run time they change nothing.

The compiled build (:mod:`swimcore._build`) makes :class:`~swimcore.node.Node` one native class
whose parts (probing, membership, exchanges) are mypyc traits.  mypyc reads these decorators
from ``mypy_extensions`` while it compiles (it analyses the ``TYPE_CHECKING`` branch, as mypy
does); a compiled class is built by mypyc, not by the decorator, and an interpreted one needs
nothing from it.  So at run time they are the identity, in every build: ``import swimcore``
never loads ``mypy_extensions`` (installed with mypy, about 80 KiB resident), and a pure-Python
install needs no such package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_extensions import mypyc_attr, trait
else:

    def trait(cls: Any) -> Any:
        """The class itself (mypyc reads ``mypy_extensions.trait`` at compile time)."""
        return cls

    def mypyc_attr(*attrs: str, **kwattrs: object) -> Any:
        """The identity decorator (mypyc reads ``mypy_extensions.mypyc_attr`` at compile time)."""
        return lambda cls: cls


__all__ = ["mypyc_attr", "trait"]
