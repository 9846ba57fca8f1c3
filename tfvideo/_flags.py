"""absl flag definitions that tolerate being imported next to other tfvideo entry points that
define a flag of the same name (the `tfvideo` command imports only one entry point; tests and
notebooks may import several)."""

import sys

from absl import flags

FLAGS = flags.FLAGS


def define(kind, name, default, help_text, **kwargs):
    """`flags.DEFINE_<kind>(name, default, help_text)` unless `name` is already defined.

    Either way the flag becomes a key flag of the calling module, so `--help` of the command
    that calls `define` lists it (absl would credit this module otherwise).
    """
    if name not in FLAGS:
        if kind == "enum":
            flags.DEFINE_enum(name, default, kwargs.pop("enum_values"), help_text, **kwargs)
        else:
            getattr(flags, f"DEFINE_{kind}")(name, default, help_text, **kwargs)
    caller = sys._getframe(1).f_globals.get("__name__", "")
    FLAGS.register_key_flag_for_module(sys.argv[0] if caller == "__main__" else caller,
                                       FLAGS[name])
    return FLAGS[name]
