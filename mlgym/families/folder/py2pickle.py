"""Writing pickles byte for byte as Python 2's cPickle (protocol 2) did.

The official CIFAR-10 python batches are such pickles (dict keys and strings are Python 2
``str``); ``mlgym.benchmarks`` ``cifar10``'s prepare script and
``scripts/make_tiny_cifar10.py`` write files in exactly that format, so agents' code
loads them the way it loads the real ones (``pickle.load(f, encoding="bytes")``).
Supports None, bool, int, :class:`Py2Str`, tuples, lists, dicts and uint8 arrays.
"""

from __future__ import annotations

import io
import struct

import numpy as np

__all__ = ["Py2Str", "py2_pickle"]


class Py2Str(bytes):
    """A byte string pickled as a Python 2 ``str`` (BINSTRING), like the official files."""


def py2_pickle(obj: object) -> bytes:
    """Pickle dicts/lists/ints/Py2Str/uint8 arrays exactly as Python 2 cPickle (protocol 2) would."""
    out = io.BytesIO()
    w = out.write

    def save(o: object) -> None:
        if o is None:
            w(b"N")
        elif isinstance(o, bool):
            w(b"\x88" if o else b"\x89")
        elif isinstance(o, Py2Str):
            w(b"U" + bytes([len(o)]) + o if len(o) < 256 else b"T" + struct.pack("<i", len(o)) + o)
        elif isinstance(o, (int, np.integer)):
            o = int(o)
            if 0 <= o < 256:
                w(b"K" + bytes([o]))
            elif 0 <= o < 65536:
                w(b"M" + struct.pack("<H", o))
            else:
                w(b"J" + struct.pack("<i", o))
        elif isinstance(o, tuple):
            if len(o) == 0:
                w(b")")
            elif len(o) <= 3:
                for x in o:
                    save(x)
                w(b"\x85\x86\x87"[len(o) - 1 : len(o)])
            else:
                w(b"(")
                for x in o:
                    save(x)
                w(b"t")
        elif isinstance(o, list):
            w(b"](")
            for x in o:
                save(x)
            w(b"e")
        elif isinstance(o, dict):
            w(b"}(")
            for k, v in o.items():
                save(k)
                save(v)
            w(b"u")
        elif isinstance(o, np.ndarray):
            if o.dtype != np.uint8:
                raise TypeError("only uint8 arrays")
            w(b"cnumpy.core.multiarray\n_reconstruct\n")
            w(b"cnumpy\nndarray\n")
            save((0,))
            save(Py2Str(b"b"))
            w(b"\x87R")  # _reconstruct(ndarray, (0,), 'b')
            w(b"(K\x01")
            save(tuple(int(s) for s in o.shape))
            w(b"cnumpy\ndtype\n")
            save((Py2Str(b"u1"), 0, 1))
            w(b"R")
            save((3, Py2Str(b"|"), None, None, None, -1, -1, 0))
            w(b"b\x89")  # BUILD the dtype; is_fortran=False
            save(Py2Str(np.ascontiguousarray(o).tobytes()))
            w(b"tb")  # the state tuple, BUILD
        else:
            raise TypeError(f"cannot pickle {type(o).__name__}")

    w(b"\x80\x02")
    save(obj)
    w(b".")
    return out.getvalue()
