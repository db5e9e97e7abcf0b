"""The torch.save reader on real checkpoints written by others and on hostile bytes built here (never executed)."""

from __future__ import annotations

import random
import time
import zipfile
from pathlib import Path

import pytest
from hubcensus.crawler.counting.weights import analyze
from hubcensus.crawler.formats.safetensors import HeaderError, split_prefix
from hubcensus.crawler.formats.torch_container import NeedRange, Pieces, parse_checkpoint
from hubcensus.crawler.formats.torch_pickle import PickleError, PickleHeader
from torch_bytes import (
    dict_of,
    glob,
    legacy_checkpoint,
    num,
    pickle_of,
    tensor,
    text,
    tup,
    zip_checkpoint,
)

FIXTURES = Path(__file__).resolve().parents[2] / "../shared/fixtures/pickle"

# file -> (container, tensors counted, elements by dtype counted, as loaded: dtype -> (tensors, elements))
README = {
    "picklescan/pytorch_model.bin": ("legacy", 38, {"F32": 59_114}, {"F32": (38, 59_114)}),
    "picklescan/new_pytorch_model.bin": ("zip", 1, {"F32": 12}, {"F32": (1, 12)}),
    "burn/mnist.pt": ("zip", 20, {"F32": 376_938, "I64": 2}, {"F32": (18, 376_938), "I64": (2, 2)}),
    "burn/float16.pt": ("zip", 1, {"F16": 3}, {"F16": (1, 3)}),
    "burn/bfloat16.pt": ("zip", 1, {"BF16": 3}, {"BF16": (1, 3)}),
    "burn/float32.pt": ("zip", 1, {"F32": 4}, {"F32": (1, 4)}),
    "burn/int8.pt": ("zip", 1, {"I8": 4}, {"I8": (1, 4)}),
    "burn/uint8.pt": ("zip", 1, {"U8": 4}, {"U8": (1, 4)}),
    "burn/parameter.pt": ("zip", 1, {"F32": 9}, {"F32": (1, 9)}),
    "burn/state_dict.pt": ("zip", 4, {"F32": 21}, {"F32": (4, 21)}),
    "burn/nested_dict.pt": ("zip", 4, {"F32": 20}, {"F32": (4, 20)}),
    # README's 143 counts every tensor in the file; the census counts the model (93) and skips the optimizer
    "burn/checkpoint.pt": ("zip", 4, {"F32": 93}, {"F32": (5, 143)}),
    "burn/empty.pt": ("zip", 1, {"F32": 0}, {"F32": (1, 0)}),
    "burn/simple_legacy.pt": ("legacy", 3, {"F32": 10}, {"F32": (3, 10)}),
    "burn/legacy_with_offsets.pt": ("legacy", 3, {"F32": 20}, {"F32": (3, 20)}),
    "burn/legacy_shared_storage.pt": ("legacy", 3, {"F32": 40}, {"F32": (3, 40)}),
    "burn/legacy_uncloned_views.pt": ("legacy", 2, {"F32": 20}, {"F32": (2, 20)}),
}


def _fixture(name: str) -> bytes:
    path = FIXTURES / name
    if not path.exists():
        pytest.skip(f"{path} is absent (real checkpoints live in ../shared/fixtures/pickle)")
    return path.read_bytes()


def parse(data: bytes, path: str = "x.pt", size: int | None = -1) -> PickleHeader:
    got = parse_checkpoint(Pieces(data), path=path, file_size=len(data) if size == -1 else size)
    assert isinstance(got, PickleHeader), got
    return got


@pytest.mark.parametrize("name", sorted(README))
def test_real_checkpoints_give_the_readme_counts(name: str) -> None:
    data = _fixture(name)
    container, count, elements, loaded = README[name]
    h = parse(data, name)
    assert h.container == container
    assert len(h.tensors) == count
    assert {d: e for d, (e, _) in h.dtype_totals().items()} == elements
    assert h.loaded == loaded
    assert h.unsafe_globals == []
    assert h.file_size == len(data) and h.metadata == {"format": "pt"}
    assert h.header_len < len(data)


def test_mnist_pickle_and_safetensors_give_the_same_census() -> None:
    pt = parse(_fixture("burn/mnist.pt"), "mnist.pt")
    st_bytes = _fixture("burn/mnist.safetensors")
    st = split_prefix(st_bytes, path="mnist.safetensors", file_size=len(st_bytes))
    assert sorted(pt.tensors.names) == sorted(st.tensors.names)
    assert pt.dtype_totals() == st.dtype_totals() == {"F32": (376_938, 1_507_752), "I64": (2, 16)}
    assert {t.name: t.shape for t in pt.tensors} == {t.name: t.shape for t in st.tensors}
    a, b = analyze([pt]), analyze([st])
    assert a.components[""].storage_parameters == b.components[""].storage_parameters
    assert a.components[""].effective_parameters == b.components[""].effective_parameters == 376_940
    assert a.components[""].weight_bytes == b.components[""].weight_bytes == 1_507_768


def test_checkpoint_counts_the_model_not_the_optimizer() -> None:
    h = parse(_fixture("burn/checkpoint.pt"), "checkpoint.pt")
    assert h.tensors.names == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    assert h.skipped == {"optimizer_state_dict": (1, 50)}
    assert h.dtype_totals() == {"F32": (93, 372)}
    assert h.storage_bytes == 572 and h.storages == 5


def test_views_into_one_storage_count_their_elements_and_bytes_once() -> None:
    h = parse(_fixture("burn/legacy_uncloned_views.pt"))
    assert h.dtype_totals() == {"F32": (20, 80)}
    assert h.storage_bytes == 400 and h.aliases == 0 and h.storages == 1


def test_a_bare_tensor_at_the_root_is_named_empty() -> None:
    h = parse(_fixture("picklescan/new_pytorch_model.bin"))
    assert [(t.name, t.shape, t.nbytes) for t in h.tensors] == [("", (3, 4), 48)]


def test_broken_file_is_an_error() -> None:
    with pytest.raises(HeaderError, match="not a torch checkpoint"):
        parse(_fixture("burn/broken.pt"))


# ---- constructed inputs -------------------------------------------------------------------------


def test_a_system_call_is_recorded_as_unsafe_and_never_run(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"
    evil = glob("posix", "system") + tup(text(f"touch {sentinel}")) + b"R"
    data = zip_checkpoint(pickle_of(dict_of(("w", tensor("0", "FloatStorage", 6, (2, 3))), ("x", evil))),
                          {"0": bytes(24)})  # fmt: skip
    h = parse(data)
    assert not sentinel.exists()
    assert h.unsafe_globals == ["posix.system"]
    assert "posix.system" in h.globals and "torch._utils._rebuild_tensor_v2" in h.globals
    assert [(t.name, t.dtype, t.numel) for t in h.tensors] == [("w", "F32", 6)]


def test_a_deflated_data_pkl_is_refused_without_inflating() -> None:
    bomb = pickle_of(b"]" + b"K\x00a" * 5_000_000)  # 15 MB of APPENDs, deflated to ~15 kB
    data = zip_checkpoint(bomb, {}, method=zipfile.ZIP_DEFLATED)
    assert len(data) < 100_000
    with pytest.raises(PickleError, match="deflated: refused, never inflated"):
        parse(data)
    late = zip_checkpoint(bomb, {}, method=zipfile.ZIP_DEFLATED, first=[("byteorder", b"little")])
    with pytest.raises(PickleError, match="deflated: refused, never inflated"):
        parse(late)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"]" * 1_000_000 + b"a" * 999_999, "stack deeper"),
        (b"(" * 1_000_000, "MARKs"),
        # 100,000 lists each inside the last, built through the memo with a stack of one (linear: ~3 s)
        (b"]\x94" + b"".join(b"]\x94a0j" + (i + 1).to_bytes(4, "little") for i in range(100_000)) + b"0h\x00",
         "nests containers"),
    ],
)  # fmt: skip
def test_a_million_nested_lists_are_refused_quickly(body: bytes, message: str) -> None:
    started = time.perf_counter()
    with pytest.raises(PickleError, match=message):
        parse(zip_checkpoint(pickle_of(body), {}))
    if message != "nests containers":  # refused at the stack or MARK cap, long before the end
        assert time.perf_counter() - started < 5


def test_a_list_that_holds_itself_ends() -> None:
    h = parse(zip_checkpoint(pickle_of(b"]\x94h\x00a" + b"h\x00" + tensor("0", "FloatStorage", 1, (1,)) + b"a"),
                             {"0": bytes(4)}))  # fmt: skip
    assert [(t.name, t.numel) for t in h.tensors] == [("1", 1)]


def test_a_truncated_pickle_asks_for_more_or_fails_at_the_end_of_the_file() -> None:
    data = zip_checkpoint(pickle_of(dict_of(("w", tensor("0", "FloatStorage", 4, (4,))))), {"0": bytes(16)})
    cut = data[:100]
    assert parse_checkpoint(Pieces(cut), path="x.pt", file_size=len(data)) == NeedRange(
        100, 195, "the rest of archive/data.pkl"
    )
    with pytest.raises(PickleError, match=r"archive/data\.pkl runs past the file size 100"):
        parse_checkpoint(Pieces(cut), path="x.pt", file_size=100)
    legacy = legacy_checkpoint(
        pickle_of(dict_of(("w", tensor("k", "FloatStorage", 4, (4,))))), {"k": (4, bytes(16))}
    )
    with pytest.raises(PickleError, match="cut short"):
        parse(legacy[:120])


def test_random_bytes_and_lfs_pointers_are_errors() -> None:
    rng = random.Random(16)
    for _ in range(20):
        blob = rng.randbytes(4096)
        for data in (blob, b"\x80" + blob, b"PK\x03\x04" + blob):
            with pytest.raises(HeaderError):
                parse(data)
    pointer = b"version https://git-lfs.github.com/spec/v1\noid sha256:ab12\nsize 440473133\n"
    with pytest.raises(PickleError, match="Git LFS pointer"):
        parse(pointer)
    with pytest.raises(PickleError):
        parse(b"")


def test_storages_larger_than_the_file_are_errors() -> None:
    body = pickle_of(dict_of(("w", tensor("0", "FloatStorage", 10**9, (10**9,)))))
    with pytest.raises(PickleError, match="storages need 4,000,000,000 bytes"):
        parse(zip_checkpoint(body, {"0": bytes(16)}))
    with pytest.raises(PickleError, match="needs 4,000,000,000 bytes, its record holds 16"):
        parse(zip_checkpoint(body, {"0": bytes(16)}, first=[("byteorder", b"little")]))
    legacy = legacy_checkpoint(
        pickle_of(dict_of(("w", tensor("k", "FloatStorage", 8, (8,))))), {"k": (8, bytes(16))}
    )
    with pytest.raises(PickleError, match="storages need 40 bytes but the file holds 24"):
        parse(legacy)
    with pytest.raises(PickleError, match="reaches byte 40 of a 16-byte storage"):
        parse(zip_checkpoint(pickle_of(tensor("0", "FloatStorage", 4, (10,))), {"0": bytes(16)}))


def test_data_pkl_found_through_the_central_directory() -> None:
    data = zip_checkpoint(pickle_of(dict_of(("w", tensor("0", "HalfStorage", 6, (2, 3))))), {"0": bytes(12)},
                          prefix="pytorch_model", first=[("byteorder", b"little")])  # fmt: skip
    need = parse_checkpoint(Pieces(data[:200]), path="x.bin", file_size=len(data))
    assert need == NeedRange(0, len(data), "the zip end records")
    h = parse(data)
    assert h.dtype_totals() == {"F16": (6, 12)}
    with pytest.raises(PickleError, match="storage 1 has no record pytorch_model/data/1"):
        parse(zip_checkpoint(pickle_of(tensor("1", "HalfStorage", 6, (6,))), {"0": bytes(12)},
                             prefix="pytorch_model", first=[("byteorder", b"little")]))  # fmt: skip


def test_newer_rebuilds_dtypes_and_wrappers() -> None:
    v3 = tensor("0", "UntypedStorage", 16, (4, 4), dtype="float8_e4m3fn")
    param = glob("torch._utils", "_rebuild_parameter") + tup(tensor("1", "BFloat16Storage", 8, (8,)), b"\x88",
                                                              glob("collections", "OrderedDict") + b")R") + b"R"  # fmt: skip
    typed = glob("torch._tensor", "_rebuild_from_type_v2") + tup(
        glob("torch._utils", "_rebuild_tensor_v2"), glob("torch", "Tensor"),
        tup(b"(" + text("storage") + glob("torch", "LongStorage") + text("2") + text("cpu") + num(3) + b"tQ",
            num(0), tup(num(3)), tup(num(1)), b"\x89", b"}"),
        b"}") + b"R"  # fmt: skip
    meta = glob("torch._utils", "_rebuild_meta_tensor_no_storage") + tup(glob("torch", "float16"), tup(num(5)),
                                                                         tup(num(1)), b"\x89") + b"R"  # fmt: skip
    body = pickle_of(dict_of(("f8", v3), ("p", param), ("l", typed), ("m", meta)))
    h = parse(zip_checkpoint(body, {"0": bytes(16), "1": bytes(16), "2": bytes(24)}))
    assert [(t.name, t.dtype, t.shape, t.nbytes) for t in h.tensors] == [
        ("f8", "F8_E4M3", (4, 4), 16), ("p", "BF16", (8,), 16), ("l", "I64", (3,), 24), ("m", "F16", (5,), 0),
    ]  # fmt: skip
    assert h.unsafe_globals == []


def test_tied_weights_count_once_and_partial_views_count_their_bytes_once() -> None:
    w = tensor("0", "FloatStorage", 12, (3, 4))
    body = pickle_of(dict_of(("a", w + b"\x94"), ("b", b"h\x00"), ("c", w), ("d", tensor("0", "FloatStorage", 12, (2, 4), offset=4)),
                             ("t", tensor("0", "FloatStorage", 12, (4, 3), stride=(1, 4)))))  # fmt: skip
    h = parse(zip_checkpoint(body, {"0": bytes(48)}))
    # b (the same object) and c (an identical view) are aliases of a; d overlaps a; t is a's transpose
    assert h.aliases == 2
    assert [(t.name, t.numel, t.nbytes) for t in h.tensors] == [("a", 12, 48), ("d", 8, 0), ("t", 12, 0)]
    assert h.loaded == {"F32": (5, 56)} and h.storage_bytes == 48


def test_lightning_checkpoint_counts_state_dict_only() -> None:
    body = pickle_of(dict_of(
        ("epoch", num(3)),
        ("state_dict", dict_of(("model.w", tensor("0", "FloatStorage", 4, (4,))))),
        ("optimizer_states", b"]" + dict_of(("exp_avg", tensor("1", "FloatStorage", 4, (4,)))) + b"a"),
        ("callbacks", dict_of(("ema", dict_of(("w", tensor("2", "FloatStorage", 4, (4,))))))),
    ))  # fmt: skip
    h = parse(zip_checkpoint(body, {k: bytes(16) for k in "012"}))
    assert h.tensors.names == ["model.w"]
    assert h.skipped == {"optimizer_states": (1, 4), "callbacks": (1, 4)}
    assert h.loaded == {"F32": (3, 12)}


def test_analyze_counts_a_parsed_checkpoint() -> None:
    h = parse(_fixture("picklescan/pytorch_model.bin"), "pytorch_model.bin")
    w = analyze([h])
    assert w.components[""].storage_parameters == {"F32": 59_114}
    assert w.components[""].weight_bytes == 236_456 and w.components[""].file_bytes == 244_862
