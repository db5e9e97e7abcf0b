"""The bounded GGUF parser against files written by gguf.GGUFWriter (read back by gguf.GGUFReader),
hand-built v1/v2 files, incremental feeding, sibling skips and hostile bytes."""

from __future__ import annotations

import random
from pathlib import Path

import gguf
import numpy as np
import pytest
from hubcensus.crawler.formats.gguf import (
    GGUFError,
    GGUFInfo,
    GGUFParser,
    Need,
    file_type_label,
    parse_bytes,
    skip_table,
)
from hubcensus.fakehub.gguf_repos import GEMMA3_4B, ModelSpec, hostile_files, model_tensors, variant_files
from hubcensus.fakehub.gguf_write import F32, KV, STRING, U32, TensorSpec, header_segments

QT = gguf.GGMLQuantizationType


def _write(path: Path, endian: gguf.GGUFEndian) -> None:
    """A v3 file with float, K-quant, IQ, TQ and MXFP4 tensors, a tokenizer and a long chat template."""
    w = gguf.GGUFWriter(path, "llama", endianess=endian)
    w.add_context_length(8192)
    w.add_block_count(3)
    w.add_file_type(int(gguf.LlamaFileType.MOSTLY_Q4_K_M))
    w.add_token_list([f"t{i}" for i in range(3000)])
    w.add_token_scores([float(i) for i in range(3000)])
    w.add_chat_template("{{ x }}" * 2000)
    rng = np.random.default_rng(0)
    w.add_tensor("norm", rng.random(256, dtype=np.float32))
    w.add_tensor("emb", rng.random((3, 64)).astype(np.float16))
    for name, qt, rows in [
        ("a", QT.Q4_K, 4), ("b", QT.Q6_K, 2), ("c", QT.IQ2_XXS, 3), ("d", QT.IQ4_NL, 5),
        ("e", QT.TQ1_0, 2), ("f", QT.MXFP4, 7), ("g", QT.Q8_0, 1), ("h", QT.BF16, 2),
    ]:  # fmt: skip
        block, size = gguf.GGML_QUANT_SIZES[qt]
        cols = 256 if block > 1 else 64
        w.add_tensor(name, np.zeros((rows, cols // block * size), np.uint8), raw_dtype=qt)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def _reader_totals(reader: gguf.GGUFReader) -> dict[str, tuple[int, int, int]]:
    out: dict[str, list[int]] = {}
    for t in reader.tensors:
        row = out.setdefault(t.tensor_type.name, [0, 0, 0])
        row[0] += 1
        row[1] += int(t.n_elements)
        row[2] += int(t.n_bytes)
    return {k: (a, b, c) for k, (a, b, c) in out.items()}


def _totals(info: GGUFInfo) -> dict[str, tuple[int, int, int]]:
    return {k: (v.tensors, v.parameters, v.bytes) for k, v in info.types.items()}


@pytest.mark.parametrize("endian", [gguf.GGUFEndian.LITTLE, gguf.GGUFEndian.BIG])
def test_matches_gguf_reader(tmp_path: Path, endian: gguf.GGUFEndian) -> None:
    path = tmp_path / "m.gguf"
    _write(path, endian)
    data = path.read_bytes()
    info = parse_bytes(data, len(data))
    reader = gguf.GGUFReader(path)
    assert info.big_endian == (endian == gguf.GGUFEndian.BIG)
    assert info.version == 3
    assert info.tensor_count == len(reader.tensors) == 10
    assert info.kv_count == len(reader.fields) - 3  # the reader lists magic, version and counts as fields
    assert _totals(info) == _reader_totals(reader)
    assert info.parameters == sum(int(t.n_elements) for t in reader.tensors)
    assert info.data_offset == reader.data_offset
    assert info.expected_sizes()[0] == len(data)
    assert info.file_type_label == "Q4_K_M"
    assert (info.architecture, info.context_length, info.block_count) == ("llama", 8192, 3)
    assert set(info.types) >= {"IQ2_XXS", "TQ1_0", "MXFP4", "IQ4_NL", "BF16"}
    assert info.warnings == []


def test_incremental_feeding_needs_only_what_it_cannot_count_over(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    _write(path, gguf.GGUFEndian.LITTLE)
    data = path.read_bytes()
    whole = parse_bytes(data, len(data))
    parser = GGUFParser(len(data))
    parser.feed(0, data[:64])
    result = parser.step()
    reads = 0
    while isinstance(result, Need):
        reads += 1
        parser.feed(result.offset, data[result.offset : result.offset + result.length])
        result = parser.step()
    assert isinstance(result, GGUFInfo)
    assert _totals(result) == _totals(whole)
    assert result.data_offset == whole.data_offset
    # scores (3000 x f32) and the 14,000-byte chat template are counted over, never fetched
    assert parser.bytes_fed <= whole.header_end - 3000 * 4 - 14_000
    assert reads > 10


def test_v1_and_v2_files_hand_built() -> None:
    kvs = [KV("general.architecture", STRING, "llama"), KV("general.file_type", U32, 2),
           KV("llama.context_length", U32, 2048), KV("tokenizer.ggml.tokens", 9, ["a", "bb", "ccc"], STRING),
           KV("tokenizer.ggml.scores", 9, [0.0, 1.0, 2.0], F32)]  # fmt: skip
    tensors = [TensorSpec("tok", (4096, 3), "Q4_0"), TensorSpec("n", (4096,), "F32")]
    for version in (1, 2):
        segments, size = header_segments(kvs, tensors, version=version)
        info = parse_bytes(b"".join(segments), size)
        assert info.version == version
        assert (info.tensor_count, info.kv_count) == (2, 5)
        assert _totals(info) == {"Q4_0": (1, 12288, 12288 // 32 * 18), "F32": (1, 4096, 16384)}
        assert info.file_type_label == "Q4_0"
        assert info.matches_size(size)
    v1 = b"".join(header_segments(kvs, tensors, version=1)[0])
    v2 = b"".join(header_segments(kvs, tensors, version=2)[0])
    assert len(v2) - len(v1) > 40  # v1 wrote counts, lengths and dims as u32


def test_sibling_variant_skips_the_tokenizer_and_agrees() -> None:
    small = ModelSpec("llama", 2, 256, 512, 256, 20_000, 4096, merges=30_000)
    first, second = variant_files(small, "m", "Q4_K_M")[0], variant_files(small, "m", "Q8_0")[0]
    a = parse_bytes(b"".join(first.segments), first.size)
    hints = skip_table(a)
    assert set(k for k, _, _ in hints) == {"tokenizer.ggml.tokens", "tokenizer.ggml.merges"}
    data = b"".join(second.segments)
    parser = GGUFParser(second.size, skip=hints)
    parser.feed(0, data[:4096])
    result = parser.step()
    while isinstance(result, Need):
        parser.feed(result.offset, data[result.offset : result.offset + max(result.length, 4096)])
        result = parser.step()
    full = parse_bytes(data, second.size)
    assert isinstance(result, GGUFInfo)
    assert result.skipped == ["tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.merges"]
    assert _totals(result) == _totals(full) == {k: v for k, v in second.truth["types"].items()}
    assert result.data_offset == full.data_offset and result.matches_size(second.size)
    assert parser.bytes_fed < len(data) // 10


def test_known_answer_gemma3_1b_parameters() -> None:
    """ggml-org/gemma-3-1b-it-GGUF, f16 file: 999,885,952 parameters."""
    m = ModelSpec("gemma3", 26, 1152, 6912, 256, 262_144, 32_768)
    tensors = [TensorSpec("token_embd.weight", (1152, 262_144), "F16")]
    for i in range(m.layers):
        b = f"blk.{i}."
        tensors += [TensorSpec(b + n, d, "F32") for n, d in [("attn_norm.weight", (1152,)),
                    ("attn_q_norm.weight", (256,)), ("attn_k_norm.weight", (256,)),
                    ("post_attention_norm.weight", (1152,)), ("ffn_norm.weight", (1152,)),
                    ("post_ffw_norm.weight", (1152,))]]  # fmt: skip
        tensors += [TensorSpec(b + n, d, "F16") for n, d in [("attn_q.weight", (1152, 1024)),
                    ("attn_k.weight", (1152, 256)), ("attn_v.weight", (1152, 256)),
                    ("attn_output.weight", (1024, 1152)), ("ffn_gate.weight", (1152, 6912)),
                    ("ffn_up.weight", (1152, 6912)), ("ffn_down.weight", (6912, 1152))]]  # fmt: skip
    tensors.append(TensorSpec("output_norm.weight", (1152,), "F32"))
    segments, size = header_segments([KV("general.architecture", STRING, "gemma3"),
                                      KV("general.file_type", U32, 1)], tensors)  # fmt: skip
    info = parse_bytes(b"".join(segments), size)
    assert info.parameters == 999_885_952
    assert info.tensor_count == 340
    assert info.file_type_label == "F16"


def test_gemma_variant_against_its_spec() -> None:
    f = variant_files(GEMMA3_4B, "g", "IQ4_XS")[0]
    info = parse_bytes(b"".join(f.segments), f.size)
    assert _totals(info) == f.truth["types"]
    assert info.tensor_count == len(model_tensors(GEMMA3_4B, "IQ4_XS"))


@pytest.mark.parametrize("bad", hostile_files(), ids=lambda f: f.path)
def test_hostile_files_are_one_line_errors(bad) -> None:
    parser = GGUFParser(bad.size)
    data = b"".join(bad.segments)
    parser.feed(0, data)
    with pytest.raises(GGUFError) as err:
        result = parser.step()
        while isinstance(result, Need):  # the hostile file's stated bytes end: zeros follow, like fakehub
            end = min(bad.size, result.offset + max(result.length, 1 << 16))
            chunk = data[result.offset : end]
            parser.feed(result.offset, chunk + bytes(end - result.offset - len(chunk)))
            result = parser.step()
    assert "\n" not in str(err.value) and len(str(err.value)) < 200


def test_random_corruption_never_escapes_as_another_exception() -> None:
    f = variant_files(ModelSpec("llama", 1, 256, 256, 256, 300, 64), "x", "Q4_K_M")[0]
    data = bytearray(b"".join(f.segments))
    rng = random.Random(7)
    errors = 0
    for _ in range(300):
        bad = bytearray(data)
        for _ in range(rng.randint(1, 6)):
            bad[rng.randrange(len(bad))] = rng.randrange(256)
        try:
            parse_bytes(bytes(bad), f.size, max_header_bytes=1 << 20)
        except GGUFError as exc:
            errors += 1
            assert "\n" not in str(exc)
    assert 0 < errors < 300  # most bytes are token text: corrupting them is harmless


def test_file_type_labels_come_from_llama_cpp() -> None:
    assert file_type_label(15) == "Q4_K_M"
    assert file_type_label(0) == "F32"
    assert file_type_label(38) == "MXFP4_MOE"
    assert file_type_label(4) is None  # retired MOSTLY_Q4_1_SOME_F16
    assert file_type_label(None) is None
