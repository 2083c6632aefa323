"""``cmh index`` and ``cmh query``: a dataset's database codes in a code store, and queries to it.

``index`` trains a method (or loads a saved model with ``--model``), encodes the dataset's
database items in both modalities and adds them to a `cmh_core.serving` store (ids = dataset
rows). Beside the store it writes what a query needs to rebuild the run's featuriser and hash
function: ``<uri>.model.npz`` (``model.save``) and ``<uri>.cmh.json`` (dataset name or path,
method, bits, store kind). ``query`` reads both back, featurises a text (the dataset's TF-IDF
vocabulary) or an image (EfficientNet-Lite0), encodes it and searches the other modality.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["add_parsers", "index_command", "query_command", "sidecar_paths", "open_store"]

_FORMAT = "cmh_core.store_index/1"


def add_parsers(sub, names: str) -> None:
    """Add the ``index`` and ``query`` sub-commands to the CLI's sub-parser set."""
    i = sub.add_parser(
        "index",
        help="encode a dataset's database (images and texts) into a FAISS or Milvus code store",
        description="Train a method (or load one with --model), encode the dataset's database items in "
        "both modalities and add them to a code store; the model and the dataset name are saved beside it.",
        epilog=f"methods: {names}. Stores: faiss (a folder), milvus (a Milvus Lite .db file, or "
        "http://host:19530 for a server with --sidecar)",
    )
    i.add_argument("--dataset", default="tuxpaint", help="bundled name, 'synthetic', or a .npz/.mat/.h5 path")
    i.add_argument("--method", help="the method to train (or give --model)")
    i.add_argument("--model", type=Path, help="a saved model (.npz, cmh train --out) to use")
    i.add_argument("--bits", type=int, default=64, help="code length in bits; default 64")
    i.add_argument("--seed", type=int, default=0, help="random_state of the method; default 0")
    i.add_argument("--store", choices=["milvus", "faiss"], default="milvus", help="engine (default milvus)")
    i.add_argument("--uri", required=True, help="Milvus Lite file (./codes.db), server URI, or FAISS folder")
    i.add_argument("--sidecar", type=Path, help="where model and settings go; default beside --uri")
    q = sub.add_parser(
        "query",
        help="search a store built by 'cmh index' with a text or an image",
        description="Featurise a text or an image as the indexed run did, encode it with its hash function "
        "and print the nearest items of the other modality from the store.",
    )
    q.add_argument("--uri", required=True, help="the --uri given to 'cmh index'")
    what = q.add_mutually_exclusive_group(required=True)
    what.add_argument("--text", help="a text query, e.g. 'a koala'")
    what.add_argument("--image", type=Path, help="an image file (PNG, JPEG, WebP)")
    q.add_argument("--k", type=int, default=10, help="number of results; default 10")
    q.add_argument(
        "--search", choices=["image", "text", "both"], help="modality searched (default the other)"
    )
    q.add_argument("--sidecar", type=Path, help="the --sidecar given to 'cmh index', if any")


def sidecar_paths(uri: str, sidecar: Path | None = None) -> tuple[Path, Path]:
    """``(<base>.cmh.json, <base>.model.npz)`` where base is ``sidecar`` or the store's path."""
    if sidecar is None and "://" in uri:
        raise ValueError(f"a server URI ({uri}) needs --sidecar PATH for the model and settings files")
    base = str(sidecar if sidecar is not None else uri).rstrip("/")
    return Path(base + ".cmh.json"), Path(base + ".model.npz")


def open_store(kind: str, uri: str, n_bits: int | None = None):
    """A `FaissStore` (folder ``uri``) or `MilvusStore` (file or server ``uri``)."""
    from cmh_core.serving import FaissStore, MilvusStore

    if kind == "faiss":
        return FaissStore(n_bits, path=uri)
    return MilvusStore(uri, n_bits)


def _model(args):
    from cmh_core.datasets import load_dataset
    from cmh_core.methods import get_method, load_model, method_class

    if (args.method is None) == (args.model is None):
        raise ValueError("give either --method NAME (train it) or --model FILE (a saved model)")
    if args.method is not None:
        method_class(args.method)  # a bad name fails before the data loads
    ds = load_dataset(args.dataset)
    if args.model is not None:
        model = load_model(args.model)
        return ds, model, f"loaded {model.name} from {args.model}"
    model = get_method(args.method, n_bits=args.bits, random_state=args.seed)
    tr = ds.split.train
    model.fit(ds.image_features[tr], ds.text_features[tr], ds.labels[tr])
    return ds, model, f"trained {model.name} at {args.bits} bits on {len(tr)} {ds.name} items"


def index_command(args) -> int:
    """``cmh index``: encode the database in both modalities into the store; write the sidecars."""
    if args.bits < 1:
        raise ValueError(f"--bits must be a positive code length, got {args.bits}")
    meta_path, model_path = sidecar_paths(args.uri, args.sidecar)
    ds, model, how = _model(args)
    db = ds.split.database
    codes = {m: model.encode(getattr(ds, f"{m}_features")[db], modality=m) for m in ("image", "text")}
    n_bits = 8 * codes["image"].shape[1]
    with open_store(args.store, args.uri, n_bits) as store:
        if store.count():
            raise ValueError(
                f"{args.uri} already holds {store.count()} codes; index into a new file or folder"
            )
        for m, c in codes.items():
            store.add(db, c, m)
        total = store.count()
    dataset = args.dataset
    if os.path.exists(dataset):  # a file: keep it findable from another working directory
        dataset = str(Path(dataset).resolve())
    model.save(model_path)
    meta = {
        "format": _FORMAT,
        "store": args.store,
        "dataset": dataset,
        "method": model.name,
        "n_bits": n_bits,
    }
    meta_path.write_text(json.dumps(meta, indent=1), encoding="utf-8")
    print(
        f"{how}; added {total} codes ({len(db)} images and {len(db)} texts) to {args.store} store {args.uri}"
    )
    print(f"wrote {model_path} and {meta_path} (query with: cmh query --uri {args.uri} --text '...')")
    return 0


def query_command(args) -> int:
    """``cmh query``: featurise, encode, search the store; print rank, distance, id and caption."""
    from cmh_core.datasets import featurize_image, featurize_text, load_dataset
    from cmh_core.methods import load_model

    if args.k < 1:
        raise ValueError(f"--k must be at least 1, got {args.k}")
    meta_path, model_path = sidecar_paths(args.uri, args.sidecar)
    if not meta_path.is_file():
        raise ValueError(f"no {meta_path}: build the store with `cmh index --uri {args.uri} ...` first")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format") != _FORMAT:
        raise ValueError(f"{meta_path} is not a `cmh index` settings file")
    ds = load_dataset(meta["dataset"])
    model = load_model(model_path)
    if args.text is not None:
        modality, x = "text", featurize_text(ds, args.text)
    else:
        modality, x = "image", featurize_image(ds, args.image)
    code = model.encode(x.reshape(1, -1), modality=modality)
    target = args.search or ("image" if modality == "text" else "text")
    with open_store(meta["store"], args.uri) as store:
        D, ids = store.search(code, args.k, modality=None if target == "both" else target)
    print(f"{meta['method']} {meta['n_bits']}-bit {modality} query against {target} codes in {args.uri}:")
    print("rank  distance  id  caption")
    for r, (d, i) in enumerate(zip(D[0], ids[0], strict=True), 1):
        if i >= 0:
            print(f"{r:>4}  {d:>8}  {i}  {ds.texts[i]}")
    return 0
