"""Writes tests/data/*.pth: small PyTorch checkpoints in both of torch.save's formats, and
the arrays they hold (.npz), so the torch-free reader is tested without torch installed.

    python scripts/make_checkpoint_fixtures.py   (needs torch)
"""

import collections
import os

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data")


def main():
    g = torch.Generator().manual_seed(0)
    state = collections.OrderedDict()
    state["conv.weight"] = torch.randn(4, 3, 3, 3, generator=g)
    state["bn.running_mean"] = torch.randn(4, generator=g)
    state["bn.num_batches_tracked"] = torch.tensor(7)
    state["fc.weight"] = torch.randn(6, 5, generator=g).t()  # not contiguous: strides matter
    state["half"] = torch.randn(5, generator=g).half()
    state["bf16"] = torch.randn(2, 3, generator=g).to(torch.bfloat16)
    state["shared_view"] = state["conv.weight"][1]  # a view into another tensor's storage
    for zip_format in (True, False):
        name = "state_zip.pth" if zip_format else "state_legacy.pth"
        torch.save(state, os.path.join(OUT, name), _use_new_zipfile_serialization=zip_format)
    np.savez(os.path.join(OUT, "state_expected.npz"),
             **{k: (v.float() if v.dtype == torch.bfloat16 else v).numpy() for k, v in state.items()})


if __name__ == "__main__":
    main()
