"""Normalization of listing items into `models` rows, with exact values."""

from __future__ import annotations

from datetime import datetime

from hubcensus.crawler.walk.listing import (
    EXPAND,
    LISTING_REFUSED,
    base_models,
    estimate_quant_method,
    normalize,
    parse_hub_date,
)

SHA = "a" * 40


def _item(**over: object) -> dict:
    item = {
        "_id": "66990000aaaabbbbccccdddd",
        "id": "org/llama-12b",
        "createdAt": "2024-07-18T12:00:00.000Z",
        "lastModified": "2024-08-01T08:30:15.250Z",
        "sha": SHA,
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "tags": [
            "transformers",
            "safetensors",
            "base_model:finetune:meta/llama-base",
            "base_model:meta/llama-base",
        ],
        "downloads": 1234,
        "downloadsAllTime": 99999,
        "likes": 17,
        "gated": False,
        "config": {"architectures": ["LlamaForCausalLM"], "model_type": "llama"},
        "safetensors": {"parameters": {"BF16": 11_900_000_000, "F32": 100_000_000}, "total": 12_000_000_000},
    }
    item.update(over)
    return item


def test_expand_has_every_field_the_crawl_needs_and_nothing_the_listing_refuses() -> None:
    assert set(EXPAND) == {"safetensors", "gguf", "createdAt", "lastModified", "sha", "library_name",
                           "pipeline_tag", "tags", "config", "downloads", "downloadsAllTime", "likes",
                           "gated", "siblings", "author"}  # fmt: skip
    assert {"baseModels", "childrenModelCount", "usedStorage"} == LISTING_REFUSED
    assert not LISTING_REFUSED & set(EXPAND)


def test_hub_id_comes_from_the_items_underscore_id() -> None:
    assert normalize(_item())["hub_id"] == "66990000aaaabbbbccccdddd"
    assert normalize({k: v for k, v in _item().items() if k != "_id"})["hub_id"] is None
    assert normalize(_item(_id=""))["hub_id"] is None


def test_dates_are_naive_utc() -> None:
    assert parse_hub_date("2024-07-18T12:00:00.000Z") == datetime(2024, 7, 18, 12, 0, 0)
    assert parse_hub_date("2024-07-18T14:00:00+02:00") == datetime(2024, 7, 18, 12, 0, 0)
    assert parse_hub_date("not a date") is None
    assert parse_hub_date(None) is None


def test_unquantized_bf16_model() -> None:
    row = normalize(_item())
    assert row == {
        "model_id": "org/llama-12b",
        "hub_id": "66990000aaaabbbbccccdddd",
        "author": "org",
        "created_at": datetime(2024, 7, 18, 12, 0),
        "last_modified": datetime(2024, 8, 1, 8, 30, 15, 250000),
        "sha": SHA,
        "library_name": "transformers",
        "pipeline_tag": "text-generation",
        "tags": [
            "transformers",
            "safetensors",
            "base_model:finetune:meta/llama-base",
            "base_model:meta/llama-base",
        ],
        "gated": None,
        "downloads": 1234,
        "downloads_all_time": 99999,
        "likes": 17,
        "base_models": ["meta/llama-base"],
        "base_relation": "finetune",
        "model_type": "llama",
        "architecture": "LlamaForCausalLM",
        "config_quant_method": None,
        "hub_total_params": 12_000_000_000,
        "hub_params_sum": 12_000_000_000,
        "gguf_total": None,
        "gguf_architecture": None,
        "gguf_context_length": None,
        "weights_source": "hub",
        "dominant_dtype": "BF16",
        "quant_method": "none",
        "effective_params": 12_000_000_000,
        "weight_bytes": 11_900_000_000 * 2 + 100_000_000 * 4,
        "bits_per_param": (23_800_000_000 + 400_000_000) * 8 / 12_000_000_000,
        "hub_parameters": {"BF16": 11_900_000_000, "F32": 100_000_000},
        "weight_files": None,
        "weight_format": None,
        "quant_config": None,
    }


def test_dominant_dtype_is_by_bytes_not_by_count() -> None:
    row = normalize(_item(safetensors={"parameters": {"I32": 1_000, "F16": 1_500}, "total": 2_500}))
    assert (row["dominant_dtype"], row["weight_bytes"]) == ("I32", 4_000 + 3_000)


def test_gptq_config_quant_is_estimated_without_effective_params() -> None:
    config = {"model_type": "llama", "quantization_config": {"quant_method": "gptq", "bits": 4}}
    row = normalize(_item(config=config, gated="manual",
                          tags=["base_model:org/base", "base_model:quantized:org/base"]))  # fmt: skip
    assert (row["config_quant_method"], row["quant_method"], row["effective_params"], row["bits_per_param"]) == (
        "gptq", "gptq", None, None)  # fmt: skip
    assert (row["base_models"], row["base_relation"], row["gated"], row["architecture"]) == (
        ["org/base"], "quantized", "manual", None)  # fmt: skip


def test_quant_vocabulary() -> None:
    def method(quant: dict | None = None, params: dict | None = None, **item: object) -> str | None:
        config = {"quantization_config": quant} if quant else {}
        return estimate_quant_method({**item, "config": config}, params or {})

    bf16 = {"BF16": 10}
    assert method({"quant_method": "bitsandbytes", "load_in_4bit": True}, bf16) == "bnb-4bit"
    assert method({"quant_method": "bitsandbytes", "load_in_8bit": True}, bf16) == "bnb-8bit"
    assert method({"quant_method": "awq"}, bf16) == "awq"
    assert method({"quant_method": "fbgemm_fp8"}, bf16) == "fp8"
    assert method({"quant_method": "mxfp4"}, bf16) == "mxfp4"
    assert method({"quant_method": "compressed-tensors", "format": "nvfp4-pack-quantized"}, bf16) == "nvfp4"
    assert method({"quant_method": "compressed-tensors", "format": "float-quantized"}, bf16) == "fp8"
    assert (
        method({"quant_method": "compressed-tensors", "format": "pack-quantized"}, bf16)
        == "compressed-tensors"
    )
    assert method({"quant_method": "HQQ"}, bf16) == "hqq"
    assert method(None, {"F8_E4M3": 100, "BF16": 10, "F32": 5}) == "fp8"
    assert method(None, bf16) == "none"
    assert method(None, None, gguf={"total": 5, "architecture": "llama"}) == "gguf"
    assert method(None, None) is None
    assert estimate_quant_method({"config": {"quantization": {"bits": 4}}}, {"U32": 4, "BF16": 2}) == "mlx"


def test_gguf_only_repo() -> None:
    item = {"id": "org/x-GGUF", "gguf": {"total": 7_000_000_000, "architecture": "llama", "context_length": 8192},
            "tags": ["gguf", "base_model:quantized:org/x"]}  # fmt: skip
    row = normalize(item)
    assert (row["quant_method"], row["gguf_total"], row["gguf_architecture"], row["gguf_context_length"]) == (
        "gguf", 7_000_000_000, "llama", 8192)  # fmt: skip
    assert (row["hub_parameters"], row["hub_params_sum"], row["weight_bytes"], row["dominant_dtype"]) == (
        None, None, None, None)  # fmt: skip
    assert (row["base_models"], row["base_relation"], row["created_at"]) == (["org/x"], "quantized", None)


def test_base_models_from_plain_tags_and_unknown_dtypes() -> None:
    assert base_models({"tags": ["base_model:org/a", "base_model:org/b"]}) == (["org/a", "org/b"], None)
    adapter = {"tags": ["base_model:adapter:org/a", "base_model:org/a"],
               "baseModels": {"relation": "finetune", "models": [{"id": "org/z"}]}}  # fmt: skip
    assert base_models(adapter) == (["org/a"], "adapter")  # the tags win: the listing has no baseModels
    info = {"tags": ["license:mit"], "baseModels": {"relation": "merge", "models": [{"id": "a/b"}, {"id": "c/d"}]}}
    assert base_models(info) == (["a/b", "c/d"], "merge")
    assert base_models({"tags": ["license:mit"]}) == (None, None)
    row = normalize(_item(safetensors={"parameters": {"BF16": 10, "Q4_WEIRD": 5}, "total": 15}))
    assert (row["weight_bytes"], row["dominant_dtype"], row["hub_params_sum"]) == (None, "BF16", 15)


def test_weight_files_and_quant_config_come_from_siblings_and_config() -> None:
    row = normalize(
        _item(
            siblings=[{"rfilename": n} for n in ("README.md", "model-00001-of-00002.safetensors",
                      "model.safetensors.index.json", "unet/diffusion_pytorch_model.safetensors", "x.bin")],
            config={"model_type": "llama", "quantization_config": {"quant_method": "gptq", "bits": 4}},
        )
    )  # fmt: skip
    assert row["weight_files"] == [
        "model-00001-of-00002.safetensors",
        "model.safetensors.index.json",
        "unet/diffusion_pytorch_model.safetensors",
    ]
    assert row["weight_format"] == "safetensors"
    assert row["quant_config"] == {"quantization_config": {"quant_method": "gptq", "bits": 4}}
    assert normalize(_item())["weight_files"] is None


def test_pickle_weights_are_kept_in_weight_files() -> None:
    names = ("README.md", "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin",
             "pytorch_model.bin.index.json", "training_args.bin", "optimizer.pt", "sd-v1-4.ckpt",
             "model_index.json", "unet/diffusion_pytorch_model.bin", "checkpoint-5/scheduler.pt")
    row = normalize(_item(siblings=[{"rfilename": n} for n in names]))  # fmt: skip
    assert row["weight_files"] == [
        "model_index.json",
        "pytorch_model-00001-of-00002.bin",
        "pytorch_model-00002-of-00002.bin",
        "pytorch_model.bin.index.json",
        "sd-v1-4.ckpt",
        "unet/diffusion_pytorch_model.bin",
    ]
    assert row["weight_format"] == "pickle"
    both = normalize(_item(siblings=[{"rfilename": n} for n in ("model.safetensors", "pytorch_model.bin")]))
    assert (both["weight_files"], both["weight_format"]) == (["model.safetensors", "pytorch_model.bin"], "both")
