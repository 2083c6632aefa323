"""`MilvusStore`: the `cmh_core.serving.CodeStore` interface on Milvus (Lite file or server URI).

Kept apart from `cmh_core.serving` so that pymilvus (an optional extra) is imported only when a
Milvus store is opened. Rows are ``(seq, item, modality, code)``: ``seq`` is the primary key and
the insertion order (0, 1, ... across `add` calls), ``item`` the caller's id, ``modality`` a
scalar field searches filter on, ``code`` a ``BINARY_VECTOR`` under the HAMMING metric.

Milvus returns the top ``limit`` hits by distance but promises no order among equal distances,
and which of several tied codes make the cut at the ``k``-th distance is arbitrary. So a search
asks for ``k + overfetch`` hits, re-ranks them by (distance, seq), and where the hits at the
``k``-th distance may be incomplete (the last returned hit is still at that distance) it fetches
that distance shell with a range search and keeps its lowest ``seq`` values: the result is then
exactly `cmh_core.hamming.search`'s (with BIN_FLAT; BIN_IVF_FLAT may miss neighbours).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from cmh_core._store_base import CodeStore, _check_modality, _check_radius, _rank_ranges, _rank_rows
from cmh_core.hamming import _check_k

__all__ = ["MilvusStore", "MILVUS_EXTRA"]

MILVUS_EXTRA = (
    "MilvusStore needs pymilvus with milvus-lite 2.5.1, the optional 'milvus' extra: "
    "pip install '.[milvus]' (or pip install pymilvus 'milvus-lite==2.5.1' 'setuptools<81')"
)
_LIMIT = 16384  # Milvus's largest topk / range-search limit
_BATCH = 10_000  # rows per insert call


def _pymilvus():
    try:
        with warnings.catch_warnings():  # milvus-lite 2.5.1 imports the deprecated pkg_resources
            warnings.simplefilter("ignore")
            import pymilvus
    except ImportError as e:
        raise ImportError(MILVUS_EXTRA) from e
    return pymilvus


class MilvusStore(CodeStore):
    """Codes in a Milvus collection: embedded Milvus Lite (a ``.db`` file) or a server.

    Parameters
    ----------
    uri : str or path
        ``"./codes.db"`` (Milvus Lite, created if missing; default) or ``"http://host:19530"``.
    n_bits : int, optional
        Code length; needed to create the collection, checked against an existing one.
    collection : str
        Collection name.
    index_type : {"BIN_FLAT", "BIN_IVF_FLAT"}
        BIN_FLAT is exact (the only type Milvus Lite offers); BIN_IVF_FLAT (servers) takes
        ``nlist`` at build and ``nprobe`` at search time.
    nlist, nprobe : int
        BIN_IVF_FLAT settings.
    overfetch : int
        Extra hits asked for beyond ``k`` so that ties at the ``k``-th distance are seldom cut.
    token : str, optional
        Credentials of a server (``"user:password"``).
    """

    def __init__(
        self,
        uri: str | Path = "./codes.db",
        n_bits: int | None = None,
        *,
        collection: str = "cmh_codes",
        index_type: str = "BIN_FLAT",
        nlist: int = 1024,
        nprobe: int = 16,
        overfetch: int = 32,
        token: str | None = None,
    ):
        pm = _pymilvus()
        if index_type not in ("BIN_FLAT", "BIN_IVF_FLAT"):
            raise ValueError(f"index_type must be 'BIN_FLAT' or 'BIN_IVF_FLAT', got {index_type!r}")
        self.uri, self.collection = str(uri), collection
        self._params = {"nprobe": int(nprobe)} if index_type == "BIN_IVF_FLAT" else {}
        self.overfetch = int(overfetch)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._client = pm.MilvusClient(self.uri, **({"token": token} if token else {}))
        c = self._client
        if c.has_collection(collection):
            dim = next(f for f in c.describe_collection(collection)["fields"] if f["name"] == "code")
            have = int(dim["params"]["dim"])
            if n_bits is not None and int(n_bits) != have:
                raise ValueError(
                    f"{self.uri} holds {have}-bit codes in {collection!r}, not {n_bits}; "
                    "use another file or collection"
                )
            self.n_bits = have
            self._next = self.count()
            return
        if isinstance(n_bits, bool) or not isinstance(n_bits, int | np.integer) or n_bits < 8 or n_bits % 8:
            raise ValueError(f"a new MilvusStore needs n_bits as a positive multiple of 8, got {n_bits!r}")
        self.n_bits, self._next = int(n_bits), 0
        schema = c.create_schema(auto_id=False)
        schema.add_field("seq", pm.DataType.INT64, is_primary=True)
        schema.add_field("item", pm.DataType.INT64)
        schema.add_field("modality", pm.DataType.VARCHAR, max_length=16)
        schema.add_field("code", pm.DataType.BINARY_VECTOR, dim=self.n_bits)
        index = c.prepare_index_params()
        extra = {"params": {"nlist": int(nlist)}} if index_type == "BIN_IVF_FLAT" else {}
        index.add_index(field_name="code", index_type=index_type, metric_type="HAMMING", **extra)
        c.create_collection(collection, schema=schema, index_params=index, consistency_level="Strong")

    def add(self, ids, codes, modality: str) -> None:
        (m,) = _check_modality(modality, allow_none=False)
        codes = self._codes(codes)
        ids = self._check_ids(ids, len(codes))
        base = self._next
        for s in range(0, len(codes), _BATCH):
            rows = [
                {"seq": base + i, "item": int(ids[i]), "modality": m, "code": codes[i].tobytes()}
                for i in range(s, min(s + _BATCH, len(codes)))
            ]
            self._client.insert(self.collection, rows)
            self._next = base + s + len(rows)  # a failed batch leaves seq consistent with the rows held

    def count(self, modality: str | None = None) -> int:
        flt = "" if modality is None else self._filter(modality)
        res = self._client.query(self.collection, filter=flt, output_fields=["count(*)"])
        return int(res[0]["count(*)"])

    @staticmethod
    def _filter(modality: str | None, extra: str = "") -> str:
        parts = [f'modality == "{m}"' for m in ([] if modality is None else _check_modality(modality, False))]
        return " and ".join([*parts, *([extra] if extra else [])])

    def _search(self, q: np.ndarray, limit: int, modality, radius: int | None = None, floor=None, extra=""):
        params: dict = {"metric_type": "HAMMING", "params": dict(self._params)}
        if radius is not None:
            params["params"]["radius"] = radius  # Milvus HAMMING ranges: floor <= d < radius
            if floor is not None:
                params["params"]["range_filter"] = floor
        return self._client.search(
            self.collection,
            data=[row.tobytes() for row in q],
            limit=limit,
            filter=self._filter(modality, extra),
            search_params=params,
            output_fields=["item"],
        )

    @staticmethod
    def _arrays(hits, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        D = np.zeros((len(hits), width), np.int64)
        seq = np.full((len(hits), width), -1, np.int64)
        ids = np.full((len(hits), width), -1, np.int64)
        for i, row in enumerate(hits):
            for j, h in enumerate(row):
                D[i, j], seq[i, j], ids[i, j] = round(h["distance"]), h["id"], h["entity"]["item"]
        return D, seq, ids

    def search(self, codes, k: int, modality: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        q, k = self._codes(codes, "queries"), _check_k(k)
        _check_modality(modality, allow_none=True)
        limit = min(k + self.overfetch, _LIMIT)
        if k > _LIMIT:
            raise ValueError(f"k must be at most {_LIMIT} for Milvus, got {k}")
        D, seq, ids = (np.zeros((len(q), 0), np.int64),) * 3
        if len(q):
            D, seq, ids = self._arrays(self._search(q, limit, modality), limit)
        D, seq, ids = self._complete_ties(q, D, seq, ids, k, limit, modality)
        return _rank_rows(D, seq, ids, k)

    def _complete_ties(self, q, D, seq, ids, k, limit, modality):
        """Replace the hits at each row's ``k``-th distance by the lowest-seq codes of that shell."""
        n_found = (seq >= 0).sum(axis=1)
        for i in np.flatnonzero(n_found == limit):  # fewer hits than asked: the engine returned all
            order = np.lexsort((seq[i], D[i]))
            dk = D[i, order[k - 1]]
            if D[i, order[-1]] != dk:
                continue  # the shell at dk ended before the last hit: complete
            need = k - int((D[i] < dk).sum())
            bound = ""
            while True:  # fetch the shell d == dk; narrow by seq while Milvus caps the answer
                (row,) = self._search(
                    q[i : i + 1], _LIMIT, modality, radius=int(dk) + 1, floor=int(dk), extra=bound
                )
                s = np.array([h["id"] for h in row], np.int64)
                if len(row) < _LIMIT:
                    break
                bound = f"seq <= {int(np.sort(s)[need - 1])}"
            keep = np.argsort(s, kind="stable")[:need]
            below = D[i] < dk
            d_i = np.concatenate([D[i][below], np.full(need, dk)])
            s_i = np.concatenate([seq[i][below], s[keep]])
            id_i = np.concatenate(
                [ids[i][below], np.array([row[j]["entity"]["item"] for j in keep], np.int64)]
            )
            D[i, :], seq[i, :], ids[i, :] = 0, -1, -1
            D[i, : len(d_i)], seq[i, : len(s_i)], ids[i, : len(id_i)] = d_i, s_i, id_i
        return D, seq, ids

    def radius_search(self, codes, r: int, modality: str | None = None):
        q, r = self._codes(codes, "queries"), _check_radius(r)
        _check_modality(modality, allow_none=True)
        qof, Ds, seqs, idss = [], [], [], []
        hits = self._search(q, _LIMIT, modality, radius=r + 1) if len(q) else []
        for i, row in enumerate(hits):
            if len(row) >= _LIMIT:
                raise ValueError(
                    f"query {i} has {_LIMIT} or more codes within radius {r}, more than Milvus returns at "
                    "once; use a smaller radius or search(codes, k)"
                )
            for h in row:
                qof.append(i)
                Ds.append(round(h["distance"]))
                seqs.append(h["id"])
                idss.append(h["entity"]["item"])
        arr = [np.asarray(a, dtype=np.int64) for a in (qof, Ds, seqs, idss)]
        return _rank_ranges(*arr, len(q))

    def close(self) -> None:
        """Close the client (Milvus Lite flushes its file)."""
        if self._client is not None:
            self._client.close()
            self._client = None
