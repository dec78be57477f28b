"""What each output format needs from its trainer to train exactly convsplit's targets.

An output format writes every sample's targets as trained and its context as untrained,
but each trainer reads that marking only under its own settings (README, "Training with
..."). ``convsplit split`` prints the one line for the chosen output once per run, and
``convsplit formats`` lists them all.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Per output format: the trainer settings under which exactly the targets are trained.
TRAINER_SETTINGS: Mapping[str, str] = {
    "openai": "axolotl needs roles_to_train: [], message_field_training: weight, "
    "train_on_eos: turn (OpenAI fine-tuning: nothing to set)",
    "sharegpt": "LLaMA-Factory needs mask_history: true (its default also trains the "
    "context turns) and one target per sample (not --window chunks)",
    "trl": "TRL's SFTTrainer trains the completion only by default (completion_only_loss); "
    "leave it on",
    "prompt_completion": "train on the completion only (TRL's completion_only_loss, the "
    "legacy OpenAI completions API)",
    "text": "train only the characters in each row's spans (axolotl's input_output type: "
    "--writer-option layout=segments)",
    "tokens": "use assistant_masks as the loss mask (labels -100 where it is 0)",
}


def trainer_note(output_format: str) -> str | None:
    """The one line to print after a run writing ``output_format`` (None: a format whose
    trainer convsplit does not know, such as a user's own).

    >>> trainer_note("sharegpt")  # doctest: +ELLIPSIS
    'note: to train exactly the targets, LLaMA-Factory needs mask_history: true ...'
    >>> trainer_note("mine") is None
    True
    """
    settings = TRAINER_SETTINGS.get(output_format)
    return None if settings is None else f"note: to train exactly the targets, {settings}"
