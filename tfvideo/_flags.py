"""absl flag definitions that tolerate being imported next to other tfvideo entry points that
define a flag of the same name (the `tfvideo` command imports only one entry point; tests and
notebooks may import several)."""

from absl import flags

FLAGS = flags.FLAGS


def define(kind, name, default, help_text, **kwargs):
    """`flags.DEFINE_<kind>(name, default, help_text)` unless `name` is already defined."""
    if name in FLAGS:
        return FLAGS[name]
    if kind == "enum":
        return flags.DEFINE_enum(name, default, kwargs.pop("enum_values"), help_text, **kwargs)
    return getattr(flags, f"DEFINE_{kind}")(name, default, help_text, **kwargs)
