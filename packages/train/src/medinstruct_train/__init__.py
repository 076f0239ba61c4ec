"""medinstruct_train: base-model preparation and LoRA SFT (TRL + PEFT).

Modules (import them directly; none imports torch at package import time):
- prompting: the Alpaca prompt shared by training and evaluation
- base: `BaseModelConfig`, `prepare_base_model` (embedded GGUF, local dir, hub id, tiny-random)
- sft: `TrainConfig`, `to_lora_config`, `to_sft_config`, `train_sft`
- loading: `load_model` for base, merged or adapter-only directories
- launch: `python -m medinstruct_train.launch` (train.distributed -> plain or accelerate launch)
- packing: padding-free packing helpers and per-example losses
- checkpoints: the resumable checkpoint cache (.cache/train/<key>)
- registry: `log_student`, `promote_champion` (MLflow Model Registry, pyfunc)
- export_gguf: `export_gguf` (llama.cpp's converter), `python -m medinstruct_train.export_gguf`
"""
