"""medinstruct_train: base-model preparation and LoRA SFT (TRL + PEFT).

Modules (import them directly; none imports torch at package import time):
- prompting: the Alpaca prompt shared by training and evaluation
- base: `BaseModelConfig`, `prepare_base_model` (embedded GGUF, local dir, hub id, tiny-random)
- sft: `TrainConfig`, `to_lora_config`, `to_sft_config`, `train_sft`
- loading: `load_model` for base, merged or adapter-only directories
"""
