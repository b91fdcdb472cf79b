"""mypyc's class decorators for the compiled build; without mypy they change nothing.

The compiled build (:mod:`swimcore._build`) makes :class:`~swimcore.node.Node` one native class
whose parts (probing, membership, exchanges) are mypyc traits.  mypyc reads these decorators
from ``mypy_extensions`` (installed with mypy); a pure-Python install may not have that package,
and then they are the identity.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_extensions import mypyc_attr, trait
else:
    try:
        from mypy_extensions import mypyc_attr, trait
    except ImportError:

        def trait(cls: Any) -> Any:
            return cls

        def mypyc_attr(*attrs: str, **kwattrs: object) -> Any:
            return lambda cls: cls


__all__ = ["mypyc_attr", "trait"]
