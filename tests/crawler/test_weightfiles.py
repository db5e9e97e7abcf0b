"""Which files count as a repo's weights."""

from __future__ import annotations

from hubcensus.crawler.files.weightfiles import WeightGroup, component_of, group_weight_files


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
            ignored=("consolidated.safetensors",),
        )
    ]


def test_diffusers_components_and_precision_variants() -> None:
    groups = group_weight_files(
        [
            "model_index.json",
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
        ("text_encoder_2", None, ("text_encoder_2/model.safetensors",), ()),
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
            ("unet/diffusion_pytorch_model.fp16.safetensors",),
        ),
        ("vae", None, ("vae/diffusion_pytorch_model.fp16.safetensors",), ()),
    ]


def test_no_weights_no_groups() -> None:
    assert group_weight_files(["pytorch_model.bin", "config.json"]) == []
    assert component_of("model.safetensors") == ""
    assert component_of("text_encoder/model.safetensors") == "text_encoder"
