"""Losses over data larger than memory, or spread over a Dask cluster (issue 16).

    >>> import numpy as np, symopt as so, symopt.chunked as sc
    >>> loss = so.DataLoss("(y - a - b*t)**2", data="t y", wrt="a b", reduce="mean")
    >>> t = np.linspace(0.0, 1.0, 1001)
    >>> res = sc.minimize(loss, [0.0, 0.0], data={"t": t, "y": 1 + 2*t}, n_chunks=4)
    >>> res.success, np.round(res.x, 8).tolist(), res.chunks
    (True, [1.0, 2.0], 4)

The data come in chunks (:mod:`symopt.chunked.sources`); every evaluation of the loss
walks them one at a time with the problem's compiled kernels
(:mod:`symopt.chunked.evaluate`) or maps them on the Dask workers that hold them
(:mod:`symopt.chunked.distributed`), while symopt's compiled solver runs on the driver
(:mod:`symopt.chunked.solve`).  What a chunk evaluation needs from a problem is one
small class, :class:`ChunkModel` (:mod:`symopt.chunked.model`).
"""

from __future__ import annotations

from .evaluate import Evaluator, TreeSum
from .model import ArrayModel, ChunkModel, DataLossModel, model_for
from .solve import DATA_ERROR, FULL_BATCH_METHODS, minimize
from .sources import (
    MATRIX,
    ArrayChunks,
    Chunk,
    ChunkError,
    ChunkSource,
    DaskChunks,
    FactoryChunks,
    Field,
    FileChunks,
    ParquetChunks,
    as_source,
)

__all__ = [
    "DATA_ERROR",
    "FULL_BATCH_METHODS",
    "MATRIX",
    "ArrayChunks",
    "ArrayModel",
    "Chunk",
    "ChunkError",
    "ChunkModel",
    "ChunkSource",
    "DaskChunks",
    "DataLossModel",
    "Evaluator",
    "FactoryChunks",
    "Field",
    "FileChunks",
    "ParquetChunks",
    "TreeSum",
    "as_source",
    "minimize",
    "model_for",
]
