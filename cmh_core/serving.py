"""Code stores: serve packed binary codes to more items than one process holds.

A `CodeStore` keeps ``(id, modality, code)`` rows and answers Hamming top-k and radius queries
in the order of `cmh_core.hamming.search`: by distance, then by insertion order (the order
rows were added, across calls). Two engines sit behind the one interface; neither is written
here:

* `FaissStore` (embedded default): one FAISS binary index per modality, in memory, optionally
  saved to a folder. ``kind="flat"`` (``IndexBinaryFlat``, exact) suits up to ~10⁸ 64-bit codes
  on one node (8 bytes per code; a scan of 10⁷ codes takes tens of ms per query). For 10⁷-10⁹
  codes FAISS offers, and this class accepts:

  - ``kind="hash"``: ``IndexBinaryHash(d, b)``, buckets on the first ``b`` bits, probes codes
    within ``nflip`` flips of the query's bucket (no training; fast when codes are spread);
  - ``kind="multihash"``: ``IndexBinaryMultiHash(d, nhash, b)``, ``nhash`` tables on disjoint
    ``b``-bit substrings (multi-index hashing: exact for radius < nhash, approximate top-k);
  - ``kind="ivf"``: ``IndexBinaryIVF`` with ``nlist`` lists, ``nprobe`` probed (trained on the
    first batch added; needs ~40 × nlist codes);
  - sharding: ``shards=s`` splits a modality's rows over ``s`` sub-indexes
    (``faiss.IndexBinaryShards``, searched in parallel threads); beyond one node, shard across
    machines or use Milvus.

  Approximate kinds may miss true neighbours (recall < 1, see docs/scale.md); the candidates they
  return are re-ranked exactly by (distance, insertion order).
* `MilvusStore`: `pymilvus <https://milvus.io>`_ on a file (Milvus Lite 2.5.1, embedded, no server)
  or a server/cluster URI (``"http://host:19530"``). Install with ``pip install .[milvus]``.

Ids are int64 (e.g. dataset rows); ``modality`` is ``"image"`` or ``"text"``; ``search(...,
modality=None)`` searches both. Searches return ``(D, ids)``: ``D`` int32 ``(n_q, k)``, ``ids``
int64 ``(n_q, k)``, padded with `cmh_core.hamming.MISSING_DISTANCE` / ``-1`` as `hamming.search`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from cmh_core._milvus_store import MilvusStore
from cmh_core._store_base import CodeStore, _check_modality, _check_radius, _rank_ranges, _rank_rows
from cmh_core._vocab import MODALITIES
from cmh_core.hamming import _check_k

__all__ = ["CodeStore", "FaissStore", "MilvusStore", "FAISS_KINDS"]

FAISS_KINDS = ("flat", "hash", "multihash", "ivf")


class FaissStore(CodeStore):
    """Codes in FAISS binary indexes, one per modality (see the module docstring for the kinds).

    Parameters
    ----------
    n_bits : int
        Code length (a multiple of 8, as FAISS binary indexes need).
    kind : {"flat", "hash", "multihash", "ivf"}
        ``"flat"`` (default) is exact and already in (distance, insertion) order.
    path : path, optional
        A folder: an existing store there is loaded (its ``n_bits``/``kind`` win), and `close`
        writes the indexes (``faiss.write_index_binary``) and ids back.
    hash_bits, nflip : int
        ``b`` and the probe radius of ``"hash"``/``"multihash"``; ``nhash`` tables for multihash.
    nlist, nprobe : int
        Inverted lists of ``"ivf"`` and how many are probed per query.
    shards : int
        Sub-indexes per modality (``faiss.IndexBinaryShards``); 1 = none.
    """

    def __init__(
        self,
        n_bits: int | None = None,
        kind: str = "flat",
        path: str | Path | None = None,
        *,
        hash_bits: int = 16,
        nhash: int = 4,
        nflip: int = 2,
        nlist: int = 1024,
        nprobe: int = 16,
        shards: int = 1,
    ):
        import faiss

        self._faiss = faiss
        self.path = Path(path) if path is not None else None
        meta = self._load_meta()
        if meta is not None:
            n_bits, kind = meta["n_bits"], meta["kind"]
            hash_bits, nhash, nflip, nlist, nprobe, shards = (meta[k] for k in _OPTS)
        if isinstance(n_bits, bool) or not isinstance(n_bits, int | np.integer) or n_bits < 8 or n_bits % 8:
            raise ValueError(f"FaissStore needs n_bits as a positive multiple of 8, got {n_bits!r}")
        if kind not in FAISS_KINDS:
            raise ValueError(f"kind must be one of {FAISS_KINDS}, got {kind!r}")
        if shards < 1:
            raise ValueError(f"shards must be >= 1, got {shards}")
        self.n_bits, self.kind = int(n_bits), kind
        self.opts = dict(zip(_OPTS, (hash_bits, nhash, nflip, nlist, nprobe, shards), strict=True))
        self._index: dict[str, object] = {}
        self._ids: dict[str, np.ndarray] = {m: np.zeros(0, np.int64) for m in MODALITIES}
        self._seq: dict[str, np.ndarray] = {m: np.zeros(0, np.int64) for m in MODALITIES}
        if meta is not None:
            for m in MODALITIES:
                f = self.path / f"{m}.faissindex"
                if f.is_file():
                    self._index[m] = faiss.read_index_binary(str(f))
                    self._configure(self._index[m])
            with np.load(self.path / "ids.npz", allow_pickle=False) as z:
                for m in MODALITIES:
                    self._ids[m], self._seq[m] = z[f"{m}_ids"], z[f"{m}_seq"]

    def _load_meta(self) -> dict | None:
        if self.path is None or not (self.path / "store.json").is_file():
            return None
        meta = json.loads((self.path / "store.json").read_text(encoding="utf-8"))
        if meta.get("format") != _FAISS_FORMAT:
            raise ValueError(f"{self.path} is not a FaissStore folder (format {meta.get('format')!r})")
        return meta

    def _new_index(self, first: np.ndarray):
        f, d, o = self._faiss, self.n_bits, self.opts

        def one():
            if self.kind == "flat":
                return f.IndexBinaryFlat(d)
            if self.kind == "hash":
                return f.IndexBinaryHash(d, o["hash_bits"])
            if self.kind == "multihash":
                return f.IndexBinaryMultiHash(d, o["nhash"], o["hash_bits"])
            quantizer = f.IndexBinaryFlat(d)
            ivf = f.IndexBinaryIVF(quantizer, d, o["nlist"])
            ivf.own_fields = True
            quantizer.this.disown()
            ivf.train(first)
            return ivf

        if o["shards"] == 1:
            index = one()
        else:
            index = f.IndexBinaryShards(d, True, True)  # threaded, successive ids
            index.subs = [one() for _ in range(o["shards"])]  # kept alive with the shard index
            for sub in index.subs:
                index.add_shard(sub)
        self._configure(index)
        return index

    def _configure(self, index) -> None:
        o = self.opts
        subs = [index] if self.opts["shards"] == 1 else getattr(index, "subs", [])
        # "flat" keeps FAISS's heap scan: its set is the first k in (distance, index) order, and
        # `_rank_rows` restores that order within ties (as hamming.search does)
        for sub in subs:
            if self.kind in ("hash", "multihash"):
                sub.nflip = o["nflip"]
            elif self.kind == "ivf":
                sub.nprobe = o["nprobe"]

    def add(self, ids, codes, modality: str) -> None:
        (m,) = _check_modality(modality, allow_none=False)
        codes = self._codes(codes)
        ids = self._check_ids(ids, len(codes))
        if len(codes) == 0:
            return
        if m not in self._index:
            self._index[m] = self._new_index(codes)
        start = self.count()
        self._index[m].add(codes)
        self._ids[m] = np.concatenate([self._ids[m], ids])
        self._seq[m] = np.concatenate([self._seq[m], np.arange(start, start + len(codes), dtype=np.int64)])

    def count(self, modality: str | None = None) -> int:
        return sum(len(self._ids[m]) for m in _check_modality(modality, allow_none=True))

    def search(self, codes, k: int, modality: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        q, k = self._codes(codes, "queries"), _check_k(k)
        Ds, seqs, idss = [], [], []
        for m in _check_modality(modality, allow_none=True):
            if m not in self._index:
                continue
            index = self._index[m]
            exact = self.kind == "flat" and self.opts["shards"] == 1
            # Heap-based kinds cut ties at the k-th distance arbitrarily: over-fetch, then re-rank.
            D, I = index.search(q, k if exact else k + _OVERFETCH)
            ok = I >= 0
            Ds.append(D)
            seqs.append(np.where(ok, self._seq[m][np.where(ok, I, 0)], -1))
            idss.append(np.where(ok, self._ids[m][np.where(ok, I, 0)], -1))
        if not Ds:
            empty = np.zeros((len(q), 0), np.int64)
            return _rank_rows(empty, empty, empty, k)
        return _rank_rows(np.hstack(Ds), np.hstack(seqs), np.hstack(idss), k)

    def radius_search(self, codes, r: int, modality: str | None = None):
        q, r = self._codes(codes, "queries"), _check_radius(r)
        parts = []
        for m in _check_modality(modality, allow_none=True):
            if m not in self._index:
                continue
            lims, D, I = self._index[m].range_search(q, r + 1)  # FAISS's binary ball is strict: d < r + 1
            qof = np.repeat(np.arange(len(q)), np.diff(lims.astype(np.int64)))
            parts.append((qof, D, self._seq[m][I], self._ids[m][I]))
        if not parts:
            z = np.zeros(0, np.int64)
            return _rank_ranges(z, z, z, z, len(q))
        return _rank_ranges(*(np.concatenate(p) for p in zip(*parts, strict=True)), len(q))

    def close(self) -> None:
        """Write the store to ``path`` (if given): one index file per modality, ids, settings."""
        if self.path is None:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        for m, index in self._index.items():
            if self.opts["shards"] > 1:
                raise ValueError("a sharded FaissStore cannot be saved; use shards=1 with a path")
            self._faiss.write_index_binary(index, str(self.path / f"{m}.faissindex"))
        arrays = {f"{m}_{k}": v[m] for m in MODALITIES for k, v in (("ids", self._ids), ("seq", self._seq))}
        np.savez(self.path / "ids.npz", **arrays)
        meta = {"format": _FAISS_FORMAT, "n_bits": self.n_bits, "kind": self.kind, **self.opts}
        (self.path / "store.json").write_text(json.dumps(meta), encoding="utf-8")


_FAISS_FORMAT = "cmh_core.faiss_store/1"
_OVERFETCH = 32  # extra candidates of the approximate kinds, re-ranked exactly
_OPTS = ("hash_bits", "nhash", "nflip", "nlist", "nprobe", "shards")
