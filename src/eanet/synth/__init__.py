"""The synthetic two-hand dataset generator behind ``eanet synth``.

It renders hands into a dataset in the InterHand2.6M v1.0 release layout (plus an optional HIC-format set) and a
``synthetic_manifest.json`` (:mod:`eanet.data.synthetic_manifest`); training and evaluation read that output with
the ordinary readers and never import this package.

Modules: :mod:`~eanet.synth.config` (``SynthConfig``), :mod:`~eanet.synth.generate` (``generate_synthetic_dataset``,
the InterHand2.6M-format writer), :mod:`~eanet.synth.hic` (the HIC-format writer), :mod:`~eanet.synth.capture` (one
capture's plan and renderer, shared by both writers), :mod:`~eanet.synth.scene` (hand poses and interacting
configurations), :mod:`~eanet.synth.camera` (calibrated camera rigs), :mod:`~eanet.synth.appearance` (skin,
lighting, backgrounds, camera effects) and :mod:`~eanet.synth.json_writer` (streaming JSON writers).
"""
