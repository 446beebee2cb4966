"""deepfake_detect: tell real photographs from generated images.

The package follows the pipeline: data -> transforms -> backbones -> features (cache) ->
reduce -> classify -> evaluate -> report; plus finetune, detector, serve and the cli.
"""

__version__ = "0.1.0"
