"""What pretrained models each modality can use offline right now, and why not the others."""

from __future__ import annotations


def all_reports() -> list[tuple[str, list[tuple[str, str, str]]]]:
    from automl.components.audio.encoders import AUDIO_ENCODERS
    from automl.components.images.backbones import backbone_report

    out = [("image backbones", backbone_report())]
    try:
        from automl.components.text.encoders import encoder_report

        out.append(("text encoders", encoder_report()))
    except ImportError:
        pass
    audio = []
    for info in AUDIO_ENCODERS:
        why = info.available()
        audio.append(
            (info.name, "unavailable" if why else "usable", why or f"{info.summary}, {info.licence}")
        )
    out.append(("audio encoders", audio))
    return out
