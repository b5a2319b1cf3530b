"""A tiny reward model built in the test run, never downloaded: a two-layer BERT with a
one-output head and a word-level tokenizer trained on a few strings, saved with
save_pretrained and loaded back through the real loading path."""

from pathlib import Path

WORDS = (
    "explain tcp slow start answer 1 2 3 4 hi be brief user assistant system the a of "
    "congestion window packets network good bad short long question"
)


# A chat template of the simplest kind, for the trainer tests' conversational rows.
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


def tiny_tokenizer(*, chat_template: str | None = None, eos: bool = False):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
    tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.train_from_iterator([WORDS] * 3, trainers.WordLevelTrainer(special_tokens=specials))
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        # Trainers end every sequence with the end-of-sequence token.
        **({"eos_token": "[SEP]"} if eos else {}),
        model_max_length=128,
    )
    if chat_template:
        fast.chat_template = chat_template
    return fast


def build_tiny_reward_model(
    folder: Path, *, outputs: int = 1, chat_template: str | None = None, eos: bool = False
):
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    fast = tiny_tokenizer(chat_template=chat_template, eos=eos)
    config = BertConfig(
        vocab_size=len(fast),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=outputs,
        pad_token_id=fast.pad_token_id,
    )
    model = BertForSequenceClassification(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def build_tiny_causal_lm(folder: Path):
    """A two-layer Llama with the same tokenizer and a chat template, for DPO."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    fast = tiny_tokenizer(chat_template=CHAT_TEMPLATE, eos=True)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=fast.pad_token_id,
        eos_token_id=fast.eos_token_id,
        bos_token_id=fast.cls_token_id,
    )
    folder.mkdir(parents=True, exist_ok=True)
    LlamaForCausalLM(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder
