"""Tiny valid ONNX models that are the wrong model for the slot they are given, for
daemon/tests/bad_files.rs: each must give an error naming the file, never a panic.

    python scripts/reference/make_bad_models.py daemon/tests/fixtures/bad

Needs: onnx (1.23 made the committed files). The IR version is set explicitly: python onnx
writes IR 14 by default, which ONNX Runtime 1.28 rejects.
"""
import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper, save

IR_VERSION = 9
OPSET = [helper.make_opsetid("", 17)]
F, I64 = TensorProto.FLOAT, TensorProto.INT64


def silero_inputs():
    return [
        helper.make_tensor_value_info("input", F, [1, 576]),
        helper.make_tensor_value_info("state", F, [2, 1, 128]),
        helper.make_tensor_value_info("sr", I64, []),
    ]


def const(name, array):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(array))


def model(nodes, inputs, outputs, name):
    graph = helper.make_graph(nodes, name, inputs, outputs)
    m = helper.make_model(graph, opset_imports=OPSET, producer_name="hearken-tests")
    m.ir_version = IR_VERSION
    return m


def main(out):
    os.makedirs(out, exist_ok=True)
    models = {
        # Silero's inputs, but its outputs are named otherwise (`prob`, `hn`).
        "vad_renamed_outputs.onnx": model(
            [
                helper.make_node("ReduceMean", ["input"], ["prob"], keepdims=1),
                helper.make_node("Identity", ["state"], ["hn"]),
            ],
            silero_inputs(),
            [
                helper.make_tensor_value_info("prob", F, [1, 1]),
                helper.make_tensor_value_info("hn", F, [2, 1, 128]),
            ],
            "vad_renamed_outputs",
        ),
        # Silero's names, but `output` is empty and `stateN` has 4 values instead of 256.
        "vad_empty_output.onnx": model(
            [
                const("output", np.zeros([0], dtype=np.float32)),
                helper.make_node("Identity", ["state"], ["stateN"]),
            ],
            silero_inputs(),
            [
                helper.make_tensor_value_info("output", F, [0]),
                helper.make_tensor_value_info("stateN", F, [2, 1, 128]),
            ],
            "vad_empty_output",
        ),
        "vad_short_state.onnx": model(
            [
                helper.make_node("ReduceMean", ["input"], ["output"], keepdims=1),
                const("stateN", np.zeros([4], dtype=np.float32)),
            ],
            silero_inputs(),
            [
                helper.make_tensor_value_info("output", F, [1, 1]),
                helper.make_tensor_value_info("stateN", F, [4]),
            ],
            "vad_short_state",
        ),
        # An openWakeWord-shaped input ([1, 16, 96]) whose score is an int64.
        "wake_int_score.onnx": model(
            [
                helper.make_node("ReduceMean", ["x"], ["mean"], keepdims=0),
                helper.make_node("Cast", ["mean"], ["score"], to=I64),
            ],
            [helper.make_tensor_value_info("x", F, [1, 16, 96])],
            [helper.make_tensor_value_info("score", I64, [1])],
            "wake_int_score",
        ),
    }
    for name, m in models.items():
        save(m, os.path.join(out, name))
        print(name)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "daemon/tests/fixtures/bad")
