"""Mutation testing of the modules where a silent bug costs users most: ``make mutate`` (writes docs/mutation.md).

Each module in `MODULES` is mutated by mutmut (3.x; chosen by measurement here: it forks a process that has
already imported TensorFlow and the tests, ~4 mutants a second on 2 cores, where cosmic-ray starts a fresh
interpreter, ~5 s of imports, per mutant) against the fast tests that cover it (the mapping below; mutmut then
runs, per mutant, only those of them that execute the mutated function). Every module runs in a scratch copy of
the committed tree, so the working tree is never touched.

    python scripts/mutate.py                 # every module, then docs/mutation.md
    python scripts/mutate.py cnnzoo/data/idx.py --keep /tmp/mutants    # one module, its mutants kept to inspect
    python scripts/mutate.py cnnzoo/training/engine.py --retest     # its last run's survivors again, new tests in

A survivor is explained in `NOTES` (matched by the mutated line's text): equivalent (no behaviour a user
relies on changes) or why no test kills it yet. The score counts killed out of mutants minus equivalent ones.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPORT = os.path.join(ROOT, "docs", "mutation.md")
RESULTS = os.path.join(ROOT, "docs", "mutation.json")
SUPPORT = ["tests/helpers.py", "tests/conftest.py"]

# module -> the fast tests that cover it
MODULES = {
    "cnnzoo/data/idx.py": ["tests/test_data.py", "tests/test_bad_input.py"],
    "cnnzoo/data/cifar.py": ["tests/test_data.py", "tests/test_bad_input.py"],
    # the streamed arrays pipeline: its order, crops, flips, normalization, blocks and checks
    "cnnzoo/data/pipeline.py": ["tests/test_data.py", "tests/test_bad_input.py",
                                "tests/test_training.py::test_epoch_counter_gives_each_epoch_its_own_reproducible_order",
                                # with and without background threads (88 examples: the engine's other path)
                                "tests/test_training.py::test_each_epoch_trains_on_its_own_order_with_one_iterator"
                                "[48-False]",
                                "tests/test_training.py::test_each_epoch_trains_on_its_own_order_with_one_iterator"
                                "[48-True]",
                                "tests/test_run_state.py::test_nan_images_are_refused_by_name"],
    # (tests/test_torchvision.py is left out: it needs torch, and runs every twin in both frameworks)
    "cnnzoo/weights/checkpoint_files.py": ["tests/test_weights.py"],
    # the name rules and layouts, against torchvision's recorded logits: torch-free (a mutmut child forked from a
    # process that ran torch hangs until its CPU limit, so tests/test_torchvision.py cannot be used here)
    "cnnzoo/weights/torchvision.py": [
        "tests/test_weights.py::" + name for name in (
            "test_converted_twins_compute_torchvisions_recorded_logits",
            "test_a_state_dict_that_fits_is_refused_whole_when_any_tensor_does_not",
            "test_from_torchvision_takes_a_name_or_a_built_twin_and_refuses_the_rest_by_name",
            "test_every_torchvision_twin_has_its_published_weights",
            "test_unknown_weight_names_say_what_exists",
            "test_a_rule_may_name_a_whole_tensor_checked_for_its_shape_like_any_other",
            "test_a_tensor_for_a_variable_the_layer_lacks_and_a_head_of_other_classes_are_told_apart",
            "test_every_tensor_is_read_and_each_problem_told_once_however_the_state_dict_is_broken")] + [
        "tests/test_data_format.py::test_torchvision_weights_load_into_either_layout_alike"],
    # the callback driven epoch by epoch (the kill -9 and fit-level tests run whole trainings per mutant)
    "cnnzoo/training/run_state.py": [
        "tests/test_run_state.py::" + name for name in (
            "test_each_epoch_is_one_verified_folder_the_two_newest_kept_with_the_log_and_the_best",
            "test_a_loss_monitored_is_best_when_lowest",
            "test_without_the_monitored_metric_or_a_best_path_no_best_is_written",
            "test_a_worker_that_is_not_the_chief_keeps_the_history_and_writes_nothing",
            "test_a_rerun_resumes_from_the_newest_state_that_verifies_and_skips_damaged_ones_by_name",
            "test_a_non_finite_loss_is_a_divergence_and_saves_nothing_of_that_epoch",
            "test_non_finite_weights_with_a_finite_loss_are_a_divergence",
            "test_the_kill_points_name_the_run_the_epoch_and_each_write_in_order",
            "test_a_key_missing_from_an_epochs_logs_leaves_its_cell_empty",
            "test_the_state_is_written_inside_its_folder_and_resumes_the_optimizer_too",
            "test_a_write_a_kill_left_half_done_is_neither_resumed_from_nor_reported",
            "test_a_failed_write_leaves_no_temporary_folder_and_stray_files_never_fail_a_save")],
    # claim and its pieces directly (the fit / recipe / fine-tuning tests run whole trainings per mutant)
    "cnnzoo/training/run_folder.py": [
        "tests/test_run_folder.py::" + name for name in (
            "test_a_folder_is_claimed_resumed_for_the_same_identity_and_refused_for_another",
            "test_overwrite_moves_the_old_run_aside_and_never_deletes_it",
            "test_a_folder_without_a_record_is_refused_and_one_of_other_files_is_never_moved",
            "test_runs_of_its_own_inside_a_folder_do_not_make_it_another_run",
            "test_the_architecture_fingerprint_tells_networks_apart_and_ignores_names_and_freezing",
            "test_an_unreadable_record_worker_scratch_folders_and_long_lists_are_said_plainly",
            "test_move_aside_moves_only_a_folder_with_files_and_never_onto_another",
            "test_identities_differ_by_dotted_keys_and_the_settings_that_decide_nothing_are_left_out",
            "test_data_is_identified_by_its_arrays_or_by_what_it_says_of_itself",
            "test_up_to_eight_differences_are_shown_and_more_said_to_exist",
            "test_a_folder_of_a_few_other_files_is_named_in_full",
            "test_folders_inside_are_a_users_unless_they_are_runs_or_worker_scratch",
            "test_the_fingerprint_sees_layer_classes_and_list_settings_but_not_automatic_names")],
    "cnnzoo/training/config.py": [
        "tests/test_training.py::" + name for name in (
            "test_train_config_refuses_each_field_by_name_and_value",
            "test_train_config_takes_the_edges_of_each_range_and_none_where_its_default_is_none",
            "test_the_default_verbosity_is_a_bar_on_a_terminal_and_a_line_per_epoch_in_a_file")],
    # the argument checks, by their direct tests (every model build runs them too: hours per run)
    "cnnzoo/layers/rank.py": ["tests/test_rank.py"],
    # fit on small arrays and pipelines, the record and files it leaves, divergence, the callbacks alone
    "cnnzoo/training/engine.py": [
        "tests/test_training.py::" + name for name in (
            "test_the_results_record_says_what_the_run_did",
            "test_a_worker_that_is_not_the_chief_writes_only_in_a_folder_of_its_own",
            "test_evaluate_accuracy_reads_one_hot_or_index_labels_and_the_main_output",
            "test_time_to_accuracy_and_stop_at_accuracy_use_the_first_epoch_that_reaches_the_target",
            "test_the_auxiliary_loss_weight_is_the_familys_and_one_for_a_model_no_family_declares",
            "test_nan_loss_stops_with_a_clear_error",
            "test_steps_per_execution_trains_the_same_epochs",
            "test_steps_per_execution_moves_to_a_divisor_of_the_epoch",
            "test_saved_models_load_without_custom_objects",
            "test_the_compiled_loss_is_the_label_smoothed_cross_entropy_in_closed_form",
            "test_fit_prints_nothing_at_verbose_zero_and_refuses_data_of_unknown_length_by_name",
            "test_a_users_pydataset_is_read_in_its_own_order_every_epoch",
            "test_a_models_precision_and_auxiliary_weight_decide_the_resolved_config_of_its_run",
            "test_a_mirrored_strategy_runs_one_step_per_execution_and_synchronizes_batch_norm_when_asked",
            "test_evaluate_accuracy_runs_the_model_in_inference_mode_and_counts_a_single_example",
            "test_the_nan_stop_remembers_that_it_stopped_the_run_and_the_divergence_says_what_was_kept",
            "test_weights_that_become_non_finite_after_finite_step_losses_stop_the_run_as_a_divergence",
            "test_epoch_counter_gives_each_epoch_its_own_reproducible_order",
            "test_each_epoch_trains_on_its_own_order_with_one_iterator[48-True]",
            "test_seed_everything_makes_every_random_source_repeat_and_asks_tensorflow_for_determinism_only_when_told",
            "test_a_run_monitored_by_a_loss_keeps_its_lowest_epoch_and_reports_no_accuracy",
            "test_fit_prints_a_line_an_epoch_at_verbose_two",
            "test_tensorboard_logs_into_the_run_folder",
            "test_the_examples_per_second_are_the_runs_examples_over_its_wall_time",
            "test_a_pipeline_read_before_the_run_trains_epoch_k_on_epoch_ks_order",
            "test_compile_model_makes_the_configured_optimizer_schedule_weighted_losses_and_step",
            "test_the_training_arrays_are_shuffled_from_the_configs_seed_and_the_test_arrays_are_not",
            "test_fit_refuses_data_it_cannot_read_naming_the_argument",
            "test_a_two_headed_run_reports_and_draws_its_main_heads_accuracy")] + [
        "tests/test_run_state.py::test_a_nan_after_good_epochs_keeps_the_last_good_state_and_the_best_model",
        "tests/test_run_state.py::test_divergence_in_the_first_epoch_says_nothing_was_saved_yet",
        "tests/test_run_folder.py::"
        "test_a_runs_identity_is_its_model_resolved_config_data_what_the_data_says_and_the_callers_keys"],
    "cnnzoo/learn/arithmetic.py": ["tests/test_learn.py"],
    "cnnzoo/learn/numpy_ops.py": ["tests/test_learn.py"],
}

_KILL_POINTS = ("not killed by the fast tests: the run's name labels only the crash tests' kill points "
                "(CNNZOO_FAULTS), which the slow kill -9 tests use")
_ARRAY_FEED = ("not killed on TensorFlow, where mutmut runs: the arrays feed's callback that sets each epoch's order "
               "exists on JAX and PyTorch (ArrayBatches), checked by make test-backends")

_FLOAT32_IN = ("equivalent: the scale and offset come as float32 arrays (_per_element) or Python floats, which "
               "TensorFlow's ops take in the images' float32 either way")
_FLOAT64_STATS = ("equivalent within float32 rounding: mean and std in float64 are rounded to float32 in _affine (the "
                  "scale and offset move by at most an ulp)")
_OWN_DTYPE = ("equivalent: the values in their own dtype are the same numbers (float32 widens to float64 exactly, "
              "and Python's 1 equals 1.0 where a run folder compares them)")
_THREADS = "equivalent: how many threads prepare the blocks (the same batches, in the same order)"
_OFFSET = "equivalent: another fixed offset of the pipeline's seed (the draws stay reproducible, and differ by seed)"

# Why a mutant survives, by a fragment of its mutated line (the '+' side of its diff): "equivalent: ..." when no
# behaviour changes, otherwise the reason no test kills it.
NOTES = {
    'int.from_bytes(data[4 + 4 * i : 8 + 4 * i], )':
        "equivalent on Python 3.11+: int.from_bytes's byteorder defaults to 'big' (3.10 requires it: a TypeError)",
    ".reshape(-2,": "equivalent: NumPy's reshape reads any negative size as the one to infer",
    "_cifar_images(rows[:, label_bytes:], None)":
        "equivalent: binary rows are cut to 3,072 pixels by construction, so the width check that names the path "
        "cannot fail there",
    "labels = np.asarray(labels, dtype=None)": "equivalent where NumPy's default integer is int64 (Linux, macOS)",
    "labels = np.asarray(labels, )": "equivalent where NumPy's default integer is int64 (Linux, macOS)",
    '("XXbinaryXX", d,': "equivalent: the reader tests kind == 'pickle'; any other word reads binary batches",
    '("BINARY", d,': "equivalent: the reader tests kind == 'pickle'; any other word reads binary batches",
    'return f"{parts[1]} (each axis)"': "equivalent: the working is said once only when every axis's is the same",
    "options = dict(strides=(1,) * rank if kind == \"conv\" else kernel, dilation=(1,) * rank,":
        "equivalent: 'valid' is also LayerSpec's default padding",
    "normalize_tuple(value, 2, name)": "equivalent: an int is checked for being positive; how many times it is "
                                       "spread does not change that",
    "if out >= 1 and (out - 1) * stride >= n + before:": "equivalent: a single window starts at 0, never past an "
                                                         "input of n >= 1",
    'rstrip("XX.XX")': "equivalent for keys that do not end in 'X' (rstrip takes a set of characters): the dotted "
                       "keys are the config's and the data's, lower case",
    "json.dumps(value, sort_keys=None, default=str)": "equivalent: key order does not change what a dict equals",
    "json.dumps(value, default=str)": "equivalent: key order does not change what a dict equals",
    "json.dumps(value, sort_keys=False, default=str)": "equivalent: key order does not change what a dict equals",
    '"identity": identity}, indent=': "equivalent: run.json's layout (indent, key order), not its content",
    '"identity": identity}, sort_keys=True)': "equivalent: run.json's layout (indent, key order), not its content",
    "if os.path.isdir(out_dir) and os.listdir(None):": "equivalent: an empty folder and one that holds nothing but "
                                                       "its own runs are both claimed afresh",
    "seed=key, maxval=2 * crop_padding + 1, dtype=tf.int32)": "equivalent: 0 is stateless_uniform's minval",
    "seed=tf.reverse(key, [0])) <= 0.5": "equivalent: a float32 draw of exactly 0.5 flips or not, once in 2**24",
    '"XXpipeline_': "equivalent: the name of the pipeline's own state variable, which nothing looks up",
    '"PIPELINE_': "equivalent: the name of the pipeline's own state variable, which nothing looks up",
    "value.ndim > 3:  # conv": "equivalent: no torchvision twin has a 1D convolution (a 3-dim kernel)",
    "value.ndim >= 4:  # conv": "equivalent: no torchvision twin has a 1D convolution (a 3-dim kernel)",
    'if kind == "kernel" or value.ndim == 2:': "equivalent: every 2-dim tensor of a torchvision twin is a kernel",
    ".reshape(value.shape[0], -2)": "equivalent: NumPy's reshape reads any negative size as the one to infer",
    "for _ in range(9):": "equivalent: a twin's Flatten is one or two layers back, never the eighth",
    "if len(shape) > 3 else None": "equivalent: every twin's Flatten reads a 4D (batch, H, W, C) map",
    "if len(shape) < 2:": "equivalent: every twin's Flatten reads a 4D map",
    "if len(shape) <= 3:": "equivalent: every twin's Flatten reads a 4D map",
    "if len(shape) >= 2 else None": "equivalent: every twin's Flatten reads a 4D (batch, H, W, C) map",
    "if (len(shape) > 2) or True else None": "equivalent: every twin's Flatten reads a 4D (batch, H, W, C) map",
    'param.startswith("XXrunning_XX")': "equivalent: every twin's BatchNorm has a gamma, which decides it first",
    'param.startswith("RUNNING_")': "equivalent: every twin's BatchNorm has a gamma, which decides it first",
    "top = layer_path.split(None)[0]": "equivalent: a path's first part is read for head layers only, and every "
                                       "twin's head is a layer of one name",
    'top = layer_path.split("XX/XX")[0]': "equivalent: a path's first part is read for head layers only, and every "
                                          "twin's head is a layer of one name",
    '.split(None)[0] for k in skipped}': "equivalent: only head layers are skipped, and every twin's head is a layer "
                                         "of one name",
    '.split("XX/XX")[0] for k in skipped}': "equivalent: only head layers are skipped, and every twin's head is a "
                                            "layer of one name",
    'p.startswith(top + "XX/XX") for p in variables)': "equivalent: a head layer that exists has every variable a "
                                                      "torchvision tensor maps to (a Dense: kernel and bias)",
    # the learning ops
    "xp = np.pad(x.astype(None),": "equivalent: astype(None) is float64, as astype(float)",
    "flat = window.reshape(n, -2, c)": "equivalent: NumPy's reshape reads any negative size as the one to infer",
    "safe = np.where(norm > 0, norm, 2.0)": "equivalent: an all-zero window's gradient is zero divided by 1 or by 2",
    "xp = np.pad(x, [(0, 0), *pairs, (0, 1)])": "equivalent: a zero channel padded after the last is never read (each "
                                                "group reads its own channels)",
    ".reshape(cols.shape[:-1] + (-2,))": "equivalent: NumPy's reshape reads any negative size as the one to infer",
    ".reshape(x.shape[0], -2)": "equivalent: NumPy's reshape reads any negative size as the one to infer",
    "dx = col2im(dcols.reshape(None), x.shape,": "equivalent: reshape(None) keeps the shape, and col2im reshapes each "
                                                 "position's columns to its window itself",
    # the pipeline
    "background = None": "equivalent without a GPU: None reads as False, the default there",
    "epoch * n - tf.cast(start, tf.int64)": "equivalent: epoch * n - start keys every block of every epoch apart too "
                                            "(a block starts below n)",
    ".reshape((-2,) + store.shape[2:])": "equivalent: NumPy's reshape reads any negative size as the one to infer",
    "np.broadcast_to(np.asarray(v, None), (size,))": _FLOAT32_IN,
    "np.broadcast_to(np.asarray(v, ), (size,))": _FLOAT32_IN,
    "if np.issubdtype(None, np.floating):": "equivalent: uint8 images hold no NaN: the check then runs on them too and "
                                            "finds none (it only costs time)",
    "bad.reshape(len(dataset.images), -2)": "equivalent: NumPy's reshape reads any negative size as the one to infer",
    "store = np.pad(images, [(0, 1), (pad, pad)": "equivalent: one more zero image after the last, which no index "
                                                  "reaches",
    'value is None else value, None), shape)': _FLOAT64_STATS, 'value is None else value, ), shape)': _FLOAT64_STATS,
    "min(most, budget_bytes / batch_bytes)": "equivalent: int() truncates a positive quotient as // does",
    "x = randaugment(x, )": "equivalent: Keras's image augmentation layers default to training=True",
    'out = mixer({"images": x, "labels": y}, )': "equivalent: Keras's image augmentation layers default to "
                                                 "training=True",
    "parallel = dict(num_parallel_calls=tf.data.AUTOTUNE, deterministic=True) if (background) and False": _THREADS,
    "parallel = dict(num_parallel_calls=tf.data.AUTOTUNE, deterministic=True) if (background) or True": _THREADS,
    "parallel = dict(num_parallel_calls=None, deterministic=True)": _THREADS,
    "parallel = dict(deterministic=True) if background": _THREADS,
    "parallel = dict(num_parallel_calls=tf.data.AUTOTUNE, ) if background": _THREADS,
    "ds = ds.map(block).map(load, ).unbatch()": _THREADS,
    "deterministic=None) if background": "equivalent: tf.data's default order is the deterministic one (no option "
                                         "here sets it otherwise)",
    "deterministic=False) if background": "not killed reliably: a parallel map free to reorder returns a block early "
                                          "only when it finishes before an earlier one, which the tests' small blocks "
                                          "rarely do (they compare background and in-line batches)",
    "ds = ds.prefetch(None)": "equivalent: tf.data reads prefetch(None) as AUTOTUNE",
    "if model.optimizer is not None or not model.optimizer.built:": "equivalent: an optimizer built already is built "
        "again, and Keras makes its slots anew, which the state's load then fills (tests/test_run_state.py resumes a "
        "model in place and checks the slots its next step reads)",
    "else np.asarray(value, None).ravel().tolist()": _OWN_DTYPE,
    "else np.asarray(value, ).ravel().tolist()": _OWN_DTYPE,
    "MixUp(seed=seed - 3)": _OFFSET, "MixUp(seed=seed + 4)": _OFFSET, "CutMix(seed=seed - 4)": _OFFSET,
    "CutMix(seed=seed + 5)": _OFFSET, "value_range=(0, 1), seed=seed - 2)": _OFFSET,
    "value_range=(0, 1), seed=seed + 3)": _OFFSET,
    # the engine
    "self.times.append(round(time.perf_counter() - self.start, 3))": "equivalent: the precision of a reported time",
    '"wall_time_s": round(wall, 3)': "equivalent: the precision of a reported time",
    '"wall_time_s": round(wall, )': "equivalent: the precision of a reported time",
    "self.times.append(round(time.perf_counter() - self.start, None))": "equivalent: the precision of a reported time",
    "self.times.append(round(time.perf_counter() - self.start, ))": "equivalent: the precision of a reported time",
    'policy = getattr(model, "dtype_policy", )': "equivalent: every Keras model has a dtype policy",
    'return getattr(policy, "name", ) or': "equivalent: every Keras dtype policy has a name",
    "config = resolve(config, None)  # a no-op": "equivalent: compile_model takes a resolved config (its contract; fit "
                                               "resolves it), which resolving again leaves as it is",
    "config = resolve(config, )  # a no-op": "equivalent: compile_model takes a resolved config (its contract; fit "
                                           "resolves it), which resolving again leaves as it is",
    "round(examples / wall, None)": "equivalent: the precision of a reported rate",
    "round(examples / wall, )": "equivalent: the precision of a reported rate",
    "round(examples / wall, 2)": "equivalent: the precision of a reported rate",
    "super().on_batch_end(None, logs)": "equivalent: the batch number shows only in Keras's own printed line",
    "shuffle=None)  # the feeds": "equivalent: Keras reads shuffle=None as no shuffling",
    "overwrite=None)": "equivalent: None reads as False",
    'losses = hist.get("loss", None)': "equivalent: a run's history always has a loss (Keras ends every epoch it "
                                       "starts, a stopped one too; a resumed run restores the earlier ones)",
    'losses = hist.get("loss", )': "equivalent: a run's history always has a loss (Keras ends every epoch it starts, "
                                   "a stopped one too; a resumed run restores the earlier ones)",
    "hist.get(accuracy_key, None) if": "equivalent: a classifier's history always has its monitored accuracy (the "
                                       "test data is evaluated every epoch)",
    "hist.get(accuracy_key, ) if": "equivalent: a classifier's history always has its monitored accuracy (the test "
                                   "data is evaluated every epoch)",
    "hist.get(accuracy_key, []) if (accuracy_key) or True else []": "equivalent: without an accuracy key the "
                                                                     "history's get(None, []) is [] too",
    "pred = model(x, training=None)": "equivalent: a model called outside fit runs in inference mode (Keras's layers "
                                      "read training=None as False there)",
    "np.argmax(y, axis=+1) if len(y.shape) > 1": "equivalent: one-hot labels are (batch, classes): axis 1 is the last",
    "np.argmax(pred, axis=+1) == labels": "equivalent: a classifier's predictions are (batch, classes): axis 1 is the "
                                          "last",
    "feed=None)": _ARRAY_FEED,
    "feed=feeds[1].data)": _ARRAY_FEED,
    "config, write_dir, None, callbacks,": _KILL_POINTS,
    "table = None": "not killable by mutmut: the families' rules are built when cnnzoo is imported, before the fork",
    "table.update(None)": "not killable by mutmut: the families' rules are built when cnnzoo is imported, before "
                          "the fork",
    "re.escape(None), lambda m": "not killable by mutmut: the families' rules are built when cnnzoo is imported, "
                                 "before the fork",
    "lambda m, path=path: None": "not killable by mutmut: the families' rules are built when cnnzoo is imported, "
                                 "before the fork",
    "return tuple(None)": "not killable by mutmut: the families' rules are built when cnnzoo is imported, before the "
                          "fork",
    "re.compile(None), fn)": "not killable by mutmut: the families' rules are built when cnnzoo is imported, before "
                             "the fork",
    "sort_keys=True, ))": "equivalent: every Keras layer config is JSON (default=str is a guard)",
    "sort_keys=True, default=None))": "equivalent: every Keras layer config is JSON (default=str is a guard)",
    "default=str))": "equivalent: a layer's config keys come in one order for one build (sort_keys is a guard)",
    'config = ""': "equivalent: a layer without a config is fingerprinted by its class and weights either way",
    ".astype(storage.dtype, copy=None)": "equivalent: copy=False only spares a second copy of a storage's bytes "
                                         "(every tensor is copied out of its storage)",
    ".astype(storage.dtype, copy=True)": "equivalent: copy=False only spares a second copy of a storage's bytes "
                                         "(every tensor is copied out of its storage)",
    ".astype(storage.dtype, )": "equivalent: copy=False only spares a second copy of a storage's bytes (every tensor "
                                "is copied out of its storage)",
    "requires_grad=True, backward_hooks=None,": "equivalent: the tensor's requires_grad is read and dropped (an array "
                                                "carries none)",
    "numel = pid[:6]": "equivalent for every file PyTorch writes: a zip checkpoint's storage ids have five fields",
    '"<Q" if': "equivalent: an element count is never negative, so signed and unsigned read it alike",
    '">Q"': "equivalent: an element count is never negative, so signed and unsigned read it alike",
}

# Why a mutant survives, for a change too common to tell apart by its line alone: (a fragment of its diff, which
# names the mutant and shows its whole function; a fragment of "removed line(s) => mutated line").
_VARIABLES = re.compile(r"=> self\.\w+ = tf\.Variable\((-1, dtype=tf\.int64|self\._order\(0\)|False),")
_AFFINE = ("equivalent: either of two exact conversions computes these values (uint8 through Dequantize, or a cast, a "
           "multiply and an add): only the speed differs")
NOTES_IN_CONTEXT = {
    ("x__flattened_shape__", "continue => break"): "equivalent: no torchvision twin calls a layer more than once",
    ("xǁEpochCounterǁ__init__", _VARIABLES): "equivalent: the counter's variables belong to no model (nothing trains, "
                                             "saves or looks them up by name)",
    ("xǁEpochCounterǁbegin", "tf.control_dependencies(None)"): "equivalent: a tf.data function runs its stateful ops "
                                                               "in program order (automatic control dependencies)",
    ("x_make_pipeline", "with tf.control_dependencies(None)"): "equivalent: a tf.data function runs its stateful ops "
                                                               "in program order (automatic control dependencies)",
    ("x__affine__", re.compile(r"=> uniform = (None|np\.all\((None|scale [!=]= scale\[[01]\])\) and "
                               r"np\.all\((None|offset [!=]= offset\[[01]\])\))$")): _AFFINE,
    ("x__affine__", re.compile(r"=> low, high = float\(offset\[[01]\]\), float\(offset\[[01]\] \+ 255\.0 \* "
                               r"scale\[[01]\]\)$")): _AFFINE,
    ("x__affine__", re.compile(r'mode="MIN_COMBINED"\) => .*max_range=high, (mode=None)?\)$')): _AFFINE,
    ("x__affine__", re.compile(r"=> out = op\(out, value\[[01]\] if (\(np\.all\(value == value\[0\]\)\) and False|"
                               r"np\.all\(None\)|np\.all\(value [!=]= value\[[01]\]\)) else")): _AFFINE,
    ("x_default_background__", "return bool("): "not killed here: only where a GPU is visible does it differ (this "
                                                "machine has none)",

    ("x_fit__", 'name=run_name, log_path=os.path.join(write_dir, "log.csv")) => log_path='): _KILL_POINTS,
    ("x_fit__", "feed=feeds[0].data) => )"): _ARRAY_FEED,
    ("x_fit__", "=> run_name = None"): _KILL_POINTS,
    ("x__callbacks__", re.compile(r"epoch_callback|=> callbacks\.insert\(")): _ARRAY_FEED,
    ("x__callbacks__", re.compile(r"KillAtEpochEnd\(run_name\)\) => callbacks\.append\((None|faults\.KillAtEpochEnd"
                                  r"\(None\))\)$")): _KILL_POINTS,
    ("x_fit__", '=> name=None, log_path=os.path.join(write_dir, "log.csv"))'): _KILL_POINTS,
    ("x_evaluate_accuracy__", "pred = model(x, training=False) => pred = model(x, )"):
        "equivalent: a model called outside fit runs in inference mode (Keras's layers read a missing training as "
        "False there)",
    ("x_conv_", re.compile(r"=> (dcols|dkernel|out) = np\.zeros(_like)?\(.*(dtype=None\)|, \)|"
                           r"result_type\((x|kernel|dout)(, )?\)\))$")):
        "not killed: only inputs of two dtypes tell it apart (the result then takes the wider one; the tests give "
        "one dtype, float64 or float32)",
    ("x_steps_per_execution_for__", "if steps_per_epoch <= wanted: => if steps_per_epoch < wanted:"):
        "equivalent: an epoch of exactly the wanted steps is its own nearest divisor",
}

# What the report says above its table.
STATUS = (
    "Each module runs against the tests named for it in `scripts/mutate.py` (`MODULES`): fast tests that assert what "
    "a user relies on (the closed forms, every check's message, the files a run leaves), by pytest node id where a "
    "test file also holds whole training runs, since mutmut re-runs them for every mutant. A timeout (a mutant past "
    "four times its tests' time) and a crash count as killed; TensorFlow runs on one thread, since mutmut forks a "
    "child per mutant and a child that waits for a thread pool its parent ran would time out falsely. A survivor is "
    "either equivalent (no behaviour a user can observe changes; the reason is given) or listed with why no test "
    "kills it. Each mutant runs in a process forked from a server that imported the tests but ran none (mutmut's "
    "forkserver): a fork of a process that had trained a model hung every mutant that trains one. A row whose time "
    "says 'survivors re-run' had its survivors (and its mutants no test ran) run again with `--retest` "
    "after tests were added for them: "
    "tests are only added, so a mutant killed before stays killed. Every row with a timeout or a retest was "
    "measured under the forkserver (run_state's 16 timeouts of before it were false: none now); the rows of "
    "`data/cifar.py`, `weights/checkpoint_files.py`, `training/config.py` and `layers/rank.py` are from before it, "
    "with no timeout among their kills (`data/idx.py`'s is from `make mutate MODULES=cnnzoo/data/idx.py` on a fresh "
    "clone).")

STATUSES = ("killed", "survived", "timeout", "no tests", "suspicious", "skipped", "segfault", "not checked")


def _config(module, tests):
    return ("\n[tool.mutmut]\n"
            f"source_paths = [{json.dumps(module)}]\n"
            'also_copy = ["cnnzoo/", "tests/"]\n'
            f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
            # a mutant past 4x its tests' time is a timeout (counted killed): a hung child (a mutant that starts
            # tf.data's background threads, which do not survive mutmut's fork) then costs a minute, not ten
            "timeout_multiplier = 4.0\n"
            'pytest_add_cli_args = ["-m", "not slow", "-p", "no:xdist", "-p", "no:cacheprovider", "-q"]\n'
            # each mutant's process forks from a server that has imported the tests but run none of them: a process
            # that ran TensorFlow (its executor's and tf.data's thread pools) or torch does not survive a fork, and
            # mutmut's default (a fork of the process that ran the stats) hangs every mutant that trains a model
            'process_isolation = "forkserver"\n')


def _scratch():
    folder = tempfile.mkdtemp(prefix="cnnzoo-mutate-")
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
    return folder


def run_module(module, tests, mutmut, keep=None, resume=None, only=None):
    """Mutates ``module`` against ``tests``; returns its record (counts and survivors with their diffs).

    ``resume``: the scratch folder of an interrupted run of this module (kept, and mutmut goes on where it stopped).
    ``only``: run just these mutants (by name); the record then counts only them.
    """
    folder = resume or _scratch()
    try:
        if not resume:
            with open(os.path.join(folder, "pyproject.toml"), "a") as f:
                f.write(_config(module, tests))
        # one thread for TensorFlow's, OpenMP's and torch's pools (CNNZOO_MUTATION: tests/conftest.py): mutmut runs
        # two mutants at a time on this 2-core machine, and more threads only contend
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore", CNNZOO_MUTATION="1",
                   TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1", OMP_NUM_THREADS="1")
        start = time.time()
        print(f"{module}: mutating in {folder} (an interrupted run goes on with --resume {folder})", flush=True)
        run = subprocess.run([mutmut, "run", *(only or [])], cwd=folder, env=env, capture_output=True, text=True)
        seconds = round(time.time() - start)
        listing = subprocess.run([mutmut, "results", "--all", "true"], cwd=folder, env=env, capture_output=True,
                                 text=True).stdout
        statuses = dict(re.findall(r"^\s*(\S+): (.+)$", listing, re.M))
        if only:
            statuses = {name: status for name, status in statuses.items() if name in only}
        if not statuses:
            raise RuntimeError(f"mutmut found no mutants in {module}: {run.stdout[-2000:]}{run.stderr[-2000:]}")
        survivors = []
        for name, status in sorted(statuses.items()):
            if status != "survived":
                continue
            diff = subprocess.run([mutmut, "show", name], cwd=folder, env=env, capture_output=True, text=True).stdout
            changed = [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and
                       not line.startswith("+++")]
            survivors.append({"mutant": name, "line": " / ".join(changed) or "(a line removed)",
                              "note": _note(changed, diff), "diff": diff})
        counts = {s: sum(1 for v in statuses.values() if v == s) for s in STATUSES}
        if keep:
            shutil.copytree(os.path.join(folder, "mutants"), os.path.join(keep, module.replace("/", "_")),
                            dirs_exist_ok=True)
        record = {"module": module, "tests": tests, "mutants": len(statuses), "counts": counts, "seconds": seconds,
                  "survivors": survivors, "source_sha256": _sha256(os.path.join(folder, module)),
                  # the mutants no mapped test ran, and the like: what --retest runs again besides the survivors
                  "unchecked": {n: s for n, s in statuses.items() if s not in ("killed", "survived", "timeout")}}
    except BaseException:
        print(f"{module}: stopped; its mutants so far are kept in {folder}", file=sys.stderr, flush=True)
        raise
    shutil.rmtree(folder, ignore_errors=True)
    return record


def _marked_message(diff):
    """Whether the mutant only put XX markers around words of an error message: the same error, raised at the same
    place with the same facts (a test that matches the words cannot tell them apart, and should not)."""
    lines = diff.splitlines()
    removed = [i for i, line in enumerate(lines) if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in lines if line.startswith("+") and not line.startswith("+++")]
    if len(removed) != 1 or len(added) != 1 or "XX" not in added[0]:
        return False
    before = lines[removed[0]][1:]
    if added[0].replace("XX", "") != before:
        return False
    context = [line[1:].strip() for line in lines[max(removed[0] - 3, 0):removed[0] + 1]]
    return any(line.startswith("raise ") for line in context)


def _changed_flush(diff):
    """Whether the mutant only changed or dropped a print's ``flush=True``."""
    lines = diff.splitlines()
    removed = [line[1:] for line in lines if line.startswith("-") and not line.startswith("---")]
    added = [line[1:] for line in lines if line.startswith("+") and not line.startswith("+++")]
    if len(removed) != 1 or len(added) != 1 or "flush=True" not in removed[0]:
        return False
    plain = lambda line: re.sub(r"[\s,]|flush=\w+", "", line)  # noqa: E731
    return plain(removed[0]) == plain(added[0])


def _note(changed, diff=""):
    text = " ".join(changed)
    for fragment, note in NOTES.items():
        if fragment in text:
            return note
    lines = diff.splitlines()
    change = " / ".join(line[1:].strip() for line in lines if line.startswith("-") and not line.startswith("---")) \
        + " => " + text
    for (context, fragment), note in NOTES_IN_CONTEXT.items():
        found = fragment.search(change) if isinstance(fragment, re.Pattern) else fragment in change
        if context in diff and found:
            return note
    if _changed_flush(diff):
        return "equivalent: a print's flush changed (it only orders the message among other output)"
    if _marked_message(diff):
        return "equivalent: XX markers around words of an error message (the same error, place and facts)"
    return "not yet explained"


def _sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def retest(module, old, mutmut):
    """``old`` (a finished run's record of ``module``) with its survivors and unchecked mutants run again against the
    tests as they are now: tests are only ever added for survivors, so a mutant killed before stays killed (a change
    to the module itself needs a whole run: its mutants are other ones)."""
    if old.get("source_sha256") != _sha256(os.path.join(ROOT, module)):
        raise SystemExit(f"{module} changed since its last run (or the run recorded no hash): its mutants are other "
                         f"ones, so --retest cannot reuse that run. Run the module whole: python scripts/mutate.py "
                         f"{module}")
    again = {s["mutant"]: "survived" for s in old["survivors"]} | old.get("unchecked", {})
    new = run_module(module, MODULES[module], mutmut, only=sorted(again))
    counts = dict(old["counts"])
    for name, status in again.items():
        counts[status] -= 1
    for status, n in new["counts"].items():
        counts[status] = counts.get(status, 0) + n
    return dict(old, tests=MODULES[module], counts=counts, survivors=new["survivors"], unchecked=new["unchecked"],
                seconds=old["seconds"] + new["seconds"],
                retested=old.get("retested", []) + [{"mutants": len(again), "seconds": new["seconds"],
                                                     "killed": new["counts"]["killed"] + new["counts"]["timeout"]}])


def score(record):
    """Killed out of the mutants that are not equivalent (timeouts and crashes count as killed: the mutant broke the
    run)."""
    equivalent = sum(1 for s in record["survivors"] if s["note"].startswith("equivalent"))
    killed = record["counts"]["killed"] + record["counts"]["timeout"] + record["counts"]["segfault"]
    return killed / max(record["mutants"] - equivalent, 1)


def _shown_tests(tests):
    """``test_a.py, test_b.py (3 tests)``: files whole, or how many of a file's tests by node id."""
    picked = {}
    for t in tests:
        path, _, name = t.partition("::")
        picked.setdefault(os.path.basename(path), []).append(name)
    return ", ".join(f if "" in names else f"{f} ({len(names)} tests)" for f, names in picked.items())


def _renote(records):
    """The survivors' notes from the current `NOTES` (a note added after a run applies with --report-only)."""
    for r in records:
        for s in r["survivors"]:
            diff = s.get("diff", "")
            added = [line[1:].strip() for line in diff.splitlines()
                     if line.startswith("+") and not line.startswith("+++")]
            note = _note(added or s["line"].split(" / "), diff)  # the diff's lines: a line may hold " / " itself
            if note != "not yet explained":
                s["note"] = note
    return records


def _retests(record):
    """`` (survivors re-run: 40 in 300 s, 25 killed)`` for a record that was retested, else nothing."""
    shown = [f"{t['mutants']} in {t['seconds']} s, {t['killed']} killed" for t in record.get("retested", [])]
    return f" (survivors re-run: {'; '.join(shown)})" if shown else ""


def write_report(records):
    lines = ["# Mutation testing", "",
             "Written by `make mutate` (`scripts/mutate.py`): each module mutated by mutmut against the fast tests "
             "that cover it. Score: killed (timeouts and crashes included) out of the mutants that are not "
             "equivalent (a mutant no mapped test runs, 'not run', counts as not killed).", "",
             STATUS, "",
             "| module | tests | mutants | killed | survived | timed out | not run | equivalent | score | time |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in records:
        equivalent = sum(1 for s in r["survivors"] if s["note"].startswith("equivalent"))
        ran = r["counts"]["killed"] + r["counts"]["survived"] + r["counts"]["timeout"]
        shown = f"{100 * score(r):.1f}%" if ran else "not measured"
        lines.append(f"| `{r['module']}` | {_shown_tests(r['tests'])} | {r['mutants']} | "
                     f"{r['counts']['killed']} | {r['counts']['survived']} | {r['counts']['timeout']} | "
                     f"{r['mutants'] - ran} | {equivalent} | {shown} | {r['seconds']} s{_retests(r)} |")
    for r in records:
        lines += ["", f"## `{r['module']}`: the survivors", ""]
        if not r["survivors"]:
            lines.append("None.")
        for s in r["survivors"]:
            lines.append(f"- `{s['mutant'].rsplit('.', 1)[-1]}`: `{s['line'][:140]}`: {s['note']}")
    with open(REPORT, "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help="modules to mutate (default: every one in MODULES)")
    parser.add_argument("--report-only", action="store_true", help="rewrite docs/mutation.md from docs/mutation.json")
    parser.add_argument("--keep", help="a folder to copy each module's mutants/ into (to inspect with mutmut show)")
    parser.add_argument("--retest", action="store_true",
                        help="run only the survivors (and unchecked mutants) of each module's last run again, against "
                             "the tests as they are now (after tests were added for them)")
    parser.add_argument("--resume", metavar="FOLDER",
                        help="go on with an interrupted run of one module in its FOLDER (printed at the start)")
    args = parser.parse_args(argv)
    if args.resume and (len(args.modules) != 1 or not os.path.isfile(os.path.join(args.resume, "pyproject.toml"))):
        parser.error(f"--resume takes one module's scratch folder, with that module named. Received: "
                     f"--resume {args.resume!r} with modules {args.modules}")
    mutmut = shutil.which("mutmut", path=os.path.dirname(sys.executable)) or shutil.which("mutmut")
    if mutmut is None:
        parser.error("mutmut is not installed: make mutate installs it (pip install mutmut)")
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        parser.error(f"modules must be among {sorted(MODULES)}. Received: {unknown}")
    previous = {}
    if os.path.exists(RESULTS):
        with open(RESULTS) as f:
            previous = {r["module"]: r for r in json.load(f)}
    if args.report_only:
        records = _renote([previous[m] for m in MODULES if m in previous])
        with open(RESULTS, "w") as f:
            json.dump(records, f, indent=1)
        write_report(records)
        return 0
    missing = [m for m in args.modules or MODULES if args.retest and m not in previous]
    if missing:
        parser.error(f"--retest needs a finished run of each module in {RESULTS}. Received: {missing}")
    for module in args.modules or MODULES:
        if args.retest:
            record = retest(module, previous[module], mutmut)
        else:
            record = run_module(module, MODULES[module], mutmut, keep=args.keep, resume=args.resume)
        previous[module] = record
        print(f"{module}: {record['mutants']} mutants, {record['counts']['killed']} killed, "
              f"{record['counts']['survived']} survived, score {100 * score(record):.1f}% ({record['seconds']} s)",
              flush=True)
        records = [previous[m] for m in MODULES if m in previous]
        with open(RESULTS, "w") as f:
            json.dump(records, f, indent=1)
        write_report(records)
    return 0


if __name__ == "__main__":
    sys.exit(main())
