"""TensorBoard event files (``events.out.tfevents.*``) and run folders.

Events are read through TensorBoard's own record loader
(``tensorboard.backend.event_processing.event_file_loader``), so every writer that TensorBoard
itself can show is covered: ``torch.utils.tensorboard``, Lightning, Keras, Hugging Face,
YOLOv5, ``tf.summary`` and TensorBoard's framework-free ``tensorboard.summary.Writer``.
Old-style ``simple_value`` scalars and TF2 scalars stored as tensors are both read; images,
histograms, audio and text are skipped without being decoded.

We use the loader rather than ``EventAccumulator`` on purpose: the accumulator keeps a random
sample of each tag (reservoir sampling, 10,000 scalars by default) and purges "orphaned"
steps after a restart, both of which would change the curve we are asked to diagnose.

``tensorboard`` is an optional extra and is imported only when a file is read. Without
TensorFlow installed, the loader checks each record's CRC in pure Python: about 0.3 s per MB,
images included (a 3.6 MB YOLOv5 file reads in about a second).
"""

from __future__ import annotations

import json
import os
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

from .. import signals as S
from ..core import LogError, Run
from ._common import series_to_run
from .hparams import canonicalize

FORMAT = "tensorboard"

#: Sub-folders of one run that hold the events of one split (Keras writes ``train/`` and
#: ``validation/``); their files belong to the parent run.
SPLIT_DIRS = ("train", "validation", "val", "eval", "test")

EVENT_PREFIX = "events.out.tfevents"
INSTALL_HINT = "install with: pip install 'lossdoctor[tensorboard]'"

# How a split folder renames its tags so that they do not collide with the training ones.
# "test_" sorts after "val_" in signals' alias lists, so a real validation split wins.
_SPLIT_PREFIX = {"train": "", "validation": "val_", "val": "val_", "eval": "eval_", "test": "test_"}
_VAL_SIGNALS = (S.VAL_LOSS, S.VAL_ACC)
# Keras names its per-epoch scalars epoch_loss, epoch_accuracy, epoch_learning_rate.
_KERAS_EPOCH = "epoch_"
# Plugins whose tensors are scalars (an empty name: an old writer that set no metadata).
_SCALAR_PLUGINS = ("scalars", "")
_DT_STRING = 7  # tensorflow DataType enum: string tensors are text or encoded images
# YOLOv5 logs one point per epoch; these tags identify its logger.
_YOLO_TAGS = ("train/box_loss", "metrics/mAP_0.5")
_FILE_TS = re.compile(r"^events\.out\.tfevents\.(\d+)")

# TFRecord framing: 8-byte little-endian length, then its masked CRC-32C (4 bytes).
_HEADER = struct.Struct("<QI")
# An event file always opens with the file_version event "brain.Event:<n>".
_EVENT_MAGIC = b"brain.Event:"
SNIFF_NAME = 1.0  # the name TensorBoard writers always use
SNIFF_EVENT = 0.9  # valid TFRecord framing and a file_version event
SNIFF_TFRECORD = 0.3  # valid framing, but maybe a data set, not summaries


def sniff(path: Path, head: bytes) -> float:
    if path.name.startswith(EVENT_PREFIX):
        return SNIFF_NAME
    if len(head) < _HEADER.size:
        return 0.0
    length, crc = _HEADER.unpack_from(head)
    if _masked_crc32c(head[:8]) != crc:
        return 0.0
    if _EVENT_MAGIC in head[_HEADER.size:_HEADER.size + min(length, 64)]:
        return SNIFF_EVENT
    return SNIFF_TFRECORD


def read(path: Path) -> Run:
    """One event file, or a run folder (see :func:`read_folder`)."""
    path = Path(path)
    if path.is_dir():
        return read_folder(path)
    tb = _import_tensorboard(path)
    warnings: list[str] = []
    hparams: dict[str, Any] = {}
    tags = _read_events(tb, path, warnings, hparams)
    if tags is None:
        raise LogError(f"{path}: no TensorBoard events could be read (not an event file, or "
                       f"corrupt from the first record)")
    raw = {_rename(tag, "", tags): v for tag, v in tags.items()}
    return _to_run(path, raw, tags, warnings, hparams)


def read_folder(folder: Path) -> Run:
    """All event files of one run folder merged into one run: the folder's own files and those
    in its :data:`SPLIT_DIRS` sub-folders. Tags of an evaluation split are prefixed
    (Keras' ``validation/epoch_loss`` becomes ``val_loss``). When several files log the same
    tag (a restarted run), the later file wins on steps both have."""
    folder = Path(folder)
    files = _event_files(folder)
    if not files:
        raise LogError(f"{folder}: no TensorBoard event files ({EVENT_PREFIX}.*) in this folder "
                       f"or its {'/'.join(SPLIT_DIRS)} sub-folders")
    tb = _import_tensorboard(folder)
    warnings: list[str] = []
    hparams: dict[str, Any] = {}
    merged: dict[str, tuple[list, list]] = {}
    origin: dict[str, str] = {}
    failed: list[str] = []
    for f in files:
        split = f.parent.name if f.parent != folder else ""
        tags = _read_events(tb, f, warnings, hparams)
        if tags is None:
            failed.append(str(f))
            continue
        for tag, (steps, values) in tags.items():
            name = _rename(tag, split, tags)
            st, va = merged.setdefault(name, ([], []))
            st.extend(steps)
            va.extend(values)
            origin.setdefault(name, tag)
    if not merged:
        if failed and len(failed) == len(files):
            raise LogError(f"{folder}: no TensorBoard events could be read from "
                           f"{', '.join(failed)}")
        raise LogError(f"{folder}: the event files hold no scalar summaries (only images, "
                       f"histograms or text)")
    warnings.extend(f"{f}: no events could be read; skipped" for f in failed)
    raw = {k: (np.asarray(s, float), np.asarray(v, float)) for k, (s, v) in merged.items()}
    return _to_run(folder, raw, {origin[k]: None for k in raw}, warnings, hparams,
                   n_files=len(files) - len(failed))


# -- internals --------------------------------------------------------------------------------

def _import_tensorboard(path: Path):
    try:
        from tensorboard.backend.event_processing import event_file_loader
        from tensorboard.compat.proto import event_pb2
        from tensorboard.util import tensor_util
    except ImportError:
        raise LogError(f"{path}: reading TensorBoard event files needs the tensorboard "
                       f"package; {INSTALL_HINT}") from None
    return event_file_loader, event_pb2, tensor_util


def _event_files(folder: Path) -> list[Path]:
    found = [p for p in folder.glob(EVENT_PREFIX + "*") if p.is_file()]
    for split in SPLIT_DIRS:
        sub = folder / split
        if sub.is_dir():
            found += [p for p in sub.glob(EVENT_PREFIX + "*") if p.is_file()]
    return sorted(found, key=_file_order)


def _file_order(p: Path) -> tuple[int, str, str]:
    """Writers put their start time in the name: sort restarted runs oldest first."""
    m = _FILE_TS.match(p.name)
    return (int(m.group(1)) if m else int(p.stat().st_mtime), p.name, str(p))


def _read_events(tb, path: Path, warnings: list[str],
                 hparams: dict[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """Scalars of one file as tag -> (steps, values), or None when not one record was read.

    A truncated or corrupt file keeps what was read before the damage and adds a warning."""
    loader_mod, event_pb2, tensor_util = tb
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise LogError(f"{path}: cannot be opened ({exc.strerror or exc})") from None
    steps: dict[str, list[int]] = {}
    values: dict[str, list[float]] = {}
    plugin: dict[str, str] = {}  # TF2 writers put a tag's metadata on its first event only
    n_records, consumed, decode_errors = 0, 0, 0
    try:
        # The raw loader yields serialized records; counting their bytes tells whether the
        # loader stopped at the end of the file or at a damaged record (it does not say).
        for record in loader_mod.RawEventFileLoader(str(path)).Load():
            n_records += 1
            consumed += len(record) + 16  # 8 length + 4 length CRC + data + 4 data CRC
            try:
                event = event_pb2.Event.FromString(record)
            except Exception:  # a record whose CRC matched but is not an Event
                decode_errors += 1
                continue
            if not event.HasField("summary"):
                continue
            for v in event.summary.value:
                x = _scalar(v, plugin, tensor_util, hparams)
                if x is not None:
                    steps.setdefault(v.tag, []).append(event.step)
                    values.setdefault(v.tag, []).append(x)
    except Exception as exc:  # the loader raises tf/stub-specific errors on odd files
        warnings.append(f"{path}: reading stopped at record {n_records + 1} "
                        f"({type(exc).__name__}: {exc}); kept the {n_records} records before it")
    if n_records == 0 or n_records == decode_errors:
        return None
    if consumed < size:
        warnings.append(f"{path}: truncated or corrupt after byte {consumed} of {size}; kept the "
                        f"{n_records} complete records before it")
    if decode_errors:
        warnings.append(f"{path}: {decode_errors} records could not be decoded; skipped")
    return {t: (np.asarray(steps[t], float), np.asarray(values[t], float)) for t in steps}


def _scalar(v, plugin: dict[str, str], tensor_util, hparams: dict[str, Any]) -> float | None:
    kind = v.WhichOneof("value")
    if kind == "simple_value":
        return float(v.simple_value)
    if v.metadata.plugin_data.plugin_name:
        plugin.setdefault(v.tag, v.metadata.plugin_data.plugin_name)
    name = plugin.get(v.tag, "")
    if name == "hparams":  # metadata only, no value
        _plugin_hparams(v, hparams)
        return None
    if kind != "tensor":
        return None  # image, histo, audio: skipped without decoding
    if name == "text":
        _text_hparams(v, tensor_util, hparams)
        return None
    t = v.tensor
    if name not in _SCALAR_PLUGINS or t.dtype == _DT_STRING:
        return None
    if any(d.size != 1 for d in t.tensor_shape.dim):
        return None
    try:
        return float(tensor_util.make_ndarray(t).reshape(-1)[0])
    except Exception:  # an exotic dtype the converter does not know: not a scalar we can use
        return None


def _text_hparams(v, tensor_util, hparams: dict[str, Any]) -> None:
    """Hugging Face writes its TrainingArguments (``args/text_summary``) and the model config
    as JSON text; they are the run's hyper-parameters."""
    if not v.tag.startswith(("args", "model_config")):
        return
    try:
        text = tensor_util.make_ndarray(v.tensor).reshape(-1)[0]
        data = json.loads(text.decode("utf-8") if isinstance(text, bytes) else str(text))
    except Exception:  # free text, not JSON: nothing to take
        return
    if isinstance(data, dict):
        for k, val in canonicalize(data).items():
            hparams.setdefault(k, val)


def _plugin_hparams(v, hparams: dict[str, Any]) -> None:
    """``SummaryWriter.add_hparams`` and Lightning's ``log_hyperparams`` write the hparams
    plugin's session_start_info."""
    try:
        from tensorboard.plugins.hparams import plugin_data_pb2

        data = plugin_data_pb2.HParamsPluginData.FromString(v.metadata.plugin_data.content)
    except Exception:  # another hparams plugin version: hyper-parameters are optional
        return
    if not data.HasField("session_start_info"):
        return
    raw: dict[str, Any] = {}
    for k, val in data.session_start_info.hparams.items():
        kind = val.WhichOneof("kind")
        if kind is not None:
            raw[k] = getattr(val, kind)
    for k, val in canonicalize(raw).items():
        hparams.setdefault(k, val)


def _rename(tag: str, split: str, siblings) -> str:
    """Keras' ``epoch_loss`` -> ``loss`` (unless the file also logs ``loss``); in an evaluation
    split folder ``loss`` -> ``val_loss``."""
    name = tag
    if tag.startswith(_KERAS_EPOCH) and len(tag) > len(_KERAS_EPOCH):
        stripped = tag[len(_KERAS_EPOCH):]
        if stripped not in siblings:
            name = stripped
    prefix = _SPLIT_PREFIX.get(split, "")
    if not prefix or S.canonical(name) in _VAL_SIGNALS or name.lower().startswith(prefix):
        return name
    return prefix + name


def _to_run(source: Path, raw: dict, origin: dict, warnings: list[str],
            hparams: dict[str, Any], n_files: int = 1) -> Run:
    if not raw:
        raise LogError(f"{source}: the event file holds no scalar summaries (only images, "
                       f"histograms or text)")
    # HF Trainer logs the epoch as a scalar; it is the run's epoch series.
    if S.EPOCH not in raw and "train/epoch" in raw:
        raw[S.EPOCH] = raw.pop("train/epoch")
    step_unit = "step"
    keras = any(t.startswith(_KERAS_EPOCH + "loss") for t in origin)
    yolo = all(t in origin for t in _YOLO_TAGS)
    if keras or yolo:
        step_unit = "epoch"  # both log one point per epoch with the epoch as the step
    if not any(S.canonical(k) in (S.LOSS, S.VAL_LOSS) or k.lower().endswith("loss") for k in raw):
        warnings.append(f"{source}: no loss scalar among the logged tags "
                        f"({', '.join(sorted(raw)[:8])})")
    return series_to_run(source, raw, FORMAT, hparams=hparams, warnings=warnings,
                         step_unit=step_unit, meta={"files": n_files})


# CRC-32C (Castagnoli), only to check one 8-byte TFRecord header while sniffing: sniffing must
# not import tensorboard.
def _crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return tuple(table)


_CRC_TABLE = _crc_table()


def _masked_crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF
