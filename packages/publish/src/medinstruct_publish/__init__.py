"""medinstruct_publish: the curated set and the student in the field's formats.

Modules (import them directly):
- dataset: `export_dataset` / `python -m medinstruct_publish.dataset` (Hub dataset folder + card)
- model: `export_model` / `python -m medinstruct_publish.model` (Hub model folder + card)
- hub: `push` / `python -m medinstruct_publish.hub` (create_repo + upload_folder, HF_TOKEN)
- workspace, provenance, evaluation: what the cards state, read from dvc.lock, params.yaml,
  metrics/*.json, the rows and (when present) the MLflow runs that wrote them
"""
