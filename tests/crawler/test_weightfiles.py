"""Which files count as a repo's weights: one weight set, alternates ignored with a reason."""

from __future__ import annotations

from hubcensus.crawler.files.weightfiles import (
    Ignored,
    WeightGroup,
    component_of,
    group_weight_files,
    weight_format,
)

GPT_OSS_20B_FILES = [  # openai/gpt-oss-20b's safetensors siblings (zero-based shard numbers, as published)
    "model-00000-of-00002.safetensors",
    "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors",
    "model.safetensors.index.json",
    "original/model.safetensors",
]


def test_index_names_the_shards_and_consolidated_copy_is_ignored() -> None:
    groups = group_weight_files(
        [
            "config.json",
            "model.safetensors.index.json",
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors",
            "consolidated.safetensors",
        ]
    )
    assert groups == [
        WeightGroup(
            component="",
            index="model.safetensors.index.json",
            files=("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"),
            ignored=(Ignored("consolidated.safetensors", "not a shard of model.safetensors.index.json"),),
        )
    ]


def test_gpt_oss_original_copy_is_an_alternate() -> None:
    (group,) = group_weight_files(GPT_OSS_20B_FILES)
    assert group.component == "" and group.index == "model.safetensors.index.json"
    assert group.files == tuple(GPT_OSS_20B_FILES[:3])
    assert group.ignored == (Ignored("original/model.safetensors", "alternate copy in original/"),)


def test_subfolder_copies_are_alternates_of_the_root() -> None:
    files = [
        "model.safetensors",
        "checkpoint-500/model.safetensors",
        "onnx/model.safetensors",
        "openvino/openvino_model.safetensors",
        "text_encoder/model.safetensors",  # no model_index.json: not a pipeline component
    ]
    (group,) = group_weight_files(files)
    assert group.files == ("model.safetensors",)
    assert [(i.path, i.reason) for i in group.ignored] == [
        ("checkpoint-500/model.safetensors", "alternate copy in checkpoint-500/"),
        ("onnx/model.safetensors", "alternate copy in onnx/"),
        ("openvino/openvino_model.safetensors", "alternate copy in openvino/"),
        ("text_encoder/model.safetensors", "alternate copy in text_encoder/"),
    ]


def test_without_root_weights_one_folder_counts() -> None:
    (only,) = group_weight_files(["original/model.safetensors", "config.json"])
    assert (only.component, only.files, only.ignored) == ("original", ("original/model.safetensors",), ())
    (latest,) = group_weight_files(
        [
            "checkpoint-500/model.safetensors",
            "checkpoint-1000/model.safetensors",
            "checkpoint-80/model.safetensors",
        ]
    )
    assert latest.files == ("checkpoint-1000/model.safetensors",)
    assert [i.path for i in latest.ignored] == [
        "checkpoint-500/model.safetensors",
        "checkpoint-80/model.safetensors",
    ]
    (named,) = group_weight_files(["original/model.safetensors", "merged/model.safetensors"])
    assert named.files == ("merged/model.safetensors",)
    assert named.ignored == (Ignored("original/model.safetensors", "alternate copy in original/"),)


def test_diffusers_components_and_precision_variants() -> None:
    groups = group_weight_files(
        [
            "model_index.json",
            "flux1-dev.safetensors",
            "transformer/diffusion_pytorch_model.safetensors.index.json",
            "transformer/diffusion_pytorch_model-00001-of-00002.safetensors",
            "transformer/diffusion_pytorch_model-00002-of-00002.safetensors",
            "unet/diffusion_pytorch_model.safetensors",
            "unet/diffusion_pytorch_model.fp16.safetensors",
            "vae/diffusion_pytorch_model.fp16.safetensors",
            "text_encoder_2/model.safetensors",
        ]
    )
    assert [(g.component, g.index, g.files, g.ignored) for g in groups] == [
        (
            "text_encoder_2",
            None,
            ("text_encoder_2/model.safetensors",),
            (Ignored("flux1-dev.safetensors", "single-file copy beside the diffusers pipeline"),),
        ),
        (
            "transformer",
            "transformer/diffusion_pytorch_model.safetensors.index.json",
            (
                "transformer/diffusion_pytorch_model-00001-of-00002.safetensors",
                "transformer/diffusion_pytorch_model-00002-of-00002.safetensors",
            ),
            (),
        ),
        (
            "unet",
            None,
            ("unet/diffusion_pytorch_model.safetensors",),
            (
                Ignored(
                    "unet/diffusion_pytorch_model.fp16.safetensors",
                    "fp16 variant of diffusion_pytorch_model.safetensors",
                ),
            ),
        ),
        ("vae", None, ("vae/diffusion_pytorch_model.fp16.safetensors",), ()),
    ]


def test_no_weights_no_groups() -> None:
    assert group_weight_files(["training_args.bin", "config.json", "checkpoint-9/optimizer.pt"]) == []
    assert group_weight_files(["model_index.json"]) == []
    assert component_of("model.safetensors") == ""
    assert component_of("text_encoder/model.safetensors") == "text_encoder"


def test_pickle_only_repos_are_weight_sets() -> None:
    (single,) = group_weight_files(
        ["pytorch_model.bin", "training_args.bin", "optimizer.pt", "rng_state.pth"]
    )
    assert (single.format, single.files, single.ignored) == ("pickle", ("pytorch_model.bin",), ())
    (sharded,) = group_weight_files(
        ["pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin", "pytorch_model.bin.index.json",
         "pytorch_model.fp16.bin"]
    )  # fmt: skip
    assert sharded.index == "pytorch_model.bin.index.json"
    assert sharded.files == ("pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin")
    assert sharded.ignored == (
        Ignored("pytorch_model.fp16.bin", "not a shard of pytorch_model.bin.index.json"),
    )
    (raw,) = group_weight_files(["yolov8n.pt", "sd-v1-4.ckpt", "resnet.pth", "sub/other.pt"])
    assert raw.files == ("resnet.pth", "sd-v1-4.ckpt", "yolov8n.pt")  # sub/other.pt: not a root checkpoint
    (beside,) = group_weight_files(["pytorch_model.bin", "model.ckpt"])
    assert beside.ignored == (Ignored("model.ckpt", "another checkpoint beside pytorch_model.bin"),)


def test_pickles_beside_safetensors_are_copies_per_component() -> None:
    groups = group_weight_files(
        ["model_index.json", "v1-5-pruned.ckpt", "unet/diffusion_pytorch_model.bin",
         "unet/diffusion_pytorch_model.safetensors", "text_encoder/pytorch_model.bin",
         "safety_checker/pytorch_model.fp16.bin", "safety_checker/pytorch_model.bin"]
    )  # fmt: skip
    assert [(g.component, g.format, g.files, g.ignored) for g in groups] == [
        ("safety_checker", "pickle", ("safety_checker/pytorch_model.bin",),
         (Ignored("safety_checker/pytorch_model.fp16.bin", "fp16 variant of pytorch_model.bin"),
          Ignored("v1-5-pruned.ckpt", "single-file copy beside the diffusers pipeline"))),
        ("text_encoder", "pickle", ("text_encoder/pytorch_model.bin",), ()),
        ("unet", "safetensors", ("unet/diffusion_pytorch_model.safetensors",),
         (Ignored("unet/diffusion_pytorch_model.bin", "pickle copy of the safetensors weights"),)),
    ]  # fmt: skip
    (root,) = group_weight_files(["model.safetensors", "pytorch_model.bin", "checkpoint-9/pytorch_model.bin"])
    assert root.files == ("model.safetensors",)
    assert root.ignored == (
        Ignored("pytorch_model.bin", "pickle copy of the safetensors weights"),
        Ignored("checkpoint-9/pytorch_model.bin", "alternate copy in checkpoint-9/"),
    )


def test_weight_format_from_the_siblings() -> None:
    assert weight_format(["model.safetensors", "README.md"]) == "safetensors"
    assert weight_format(["pytorch_model.bin"]) == "pickle"
    assert weight_format(["model.safetensors", "pytorch_model.bin"]) == "both"
    assert weight_format(["model-Q4_K_M.gguf"]) == "gguf"
    assert weight_format(["pytorch_model.bin", "model-Q4_K_M.gguf"]) == "pickle"
    assert weight_format(["training_args.bin"]) is None and weight_format(None) is None
