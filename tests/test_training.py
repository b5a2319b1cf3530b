"""The exports in the trainers that consume them (issue 14): TRL's RewardTrainer and
DPOTrainer take a few steps on a tiny local model straight from `load_dataset(folder)`,
standard and conversational; LLaMA-Factory's and OpenRLHF's own loaders read the rows of
their flavours; and the README's training code runs as printed (with a tiny model in
place of yours)."""

import json
import re
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from django.utils import timezone

from exports.services import export_build, export_create, export_path
from tests.conftest import annotate, import_items, prompt_line
from tests.reward_model import CHAT_TEMPLATE

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parent.parent / "README.md"
CHAT = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hi?"},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": "Explain TCP slow start."},
]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    import torch

    torch.set_num_threads(1)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A tiny reward model and a tiny causal LM, both with a chat template, built here."""
    from tests.reward_model import build_tiny_causal_lm, build_tiny_reward_model

    root = tmp_path_factory.mktemp("models")
    return SimpleNamespace(
        reward=build_tiny_reward_model(root / "reward", chat_template=CHAT_TEMPLATE, eos=True),
        causal=build_tiny_causal_lm(root / "causal"),
    )


def _labelled(project, cast, *, chat: bool):
    prompt = CHAT if chat else "Explain TCP slow start."
    items = [prompt_line(f"p-{i}", prompt=prompt) for i in range(8)]
    import_items(project, *items)
    for _ in items:
        annotate(project, cast["alice"])
        # bob agrees but for the first two: consensus keeps five pairs of six.
        annotate(project, cast["bob"], rank=lambda ids: [[ids[1]], [ids[0]], [ids[2]], [ids[3]]])
    return project


@pytest.fixture
def text_project(project, cast):
    return _labelled(project, cast, chat=False)


@pytest.fixture
def chat_project(project, cast):
    return _labelled(project, cast, chat=True)


def folder_of(project, tmp_path, fmt="pairwise", **options) -> Path:
    export = export_create(
        project=project,
        user=None,
        format=fmt,
        file_format=options.pop("file_format", "jsonl"),
        filters={},
        test_fraction=0.5,
        now=timezone.now(),
        **options,
    )
    export = export_build(export_id=export.pk)
    folder = tmp_path / f"export-{export.pk}"
    with zipfile.ZipFile(export_path(export)) as packed:
        packed.extractall(folder)
    assert export.manifest["counts"]["train"] and export.manifest["counts"]["test"]
    return folder


def load(folder: Path, tmp_path: Path):
    from datasets import load_dataset

    return load_dataset(str(folder), cache_dir=str(tmp_path / "cache"))


def steps(config_class, tmp_path, **extra):
    return config_class(
        output_dir=str(tmp_path / "out"),
        max_steps=2,
        per_device_train_batch_size=4,
        per_device_eval_batch_size=4,
        report_to=[],
        use_cpu=True,
        save_strategy="no",
        logging_steps=1,
        **extra,
    )


def reward_trainer(models, dataset, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    return RewardTrainer(
        model=AutoModelForSequenceClassification.from_pretrained(models.reward, num_labels=1),
        args=steps(RewardConfig, tmp_path),
        train_dataset=dataset["train"],
        eval_dataset=dataset["test"],
        processing_class=AutoTokenizer.from_pretrained(models.reward),
    )


@pytest.mark.parametrize(
    ("fixture", "options"),
    [
        ("text_project", {}),
        ("text_project", {"conversational": True}),
        ("chat_project", {"file_format": "parquet"}),
        ("chat_project", {"margin": {"source": "rank_gap", "scale": 0.5}}),
    ],
)
def test_the_reward_trainer_trains_on_the_pairwise_export(
    request, fixture, options, models, tmp_path
):
    project = request.getfixturevalue(fixture)
    dataset = load(folder_of(project, tmp_path, **options), tmp_path)
    trainer = reward_trainer(models, dataset, tmp_path)
    result = trainer.train()
    assert result.global_step == 2 and result.training_loss > 0
    metrics = trainer.evaluate()
    assert 0 <= metrics["eval_accuracy"] <= 1
    # TRL kept the margin column for its loss exactly when one was asked for.
    assert ("margin" in trainer.train_dataset.column_names) == ("margin" in options)


@pytest.mark.parametrize(
    ("fixture", "fmt", "options"),
    [
        ("text_project", "pairwise", {}),
        ("chat_project", "pairwise", {}),
        ("chat_project", "consensus", {}),
        ("chat_project", "hh", {}),
    ],
)
def test_the_dpo_trainer_trains_on_the_exports(request, fixture, fmt, options, models, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    project = request.getfixturevalue(fixture)
    dataset = load(folder_of(project, tmp_path, fmt, **options), tmp_path)
    trainer = DPOTrainer(
        model=AutoModelForCausalLM.from_pretrained(models.causal),
        args=steps(DPOConfig, tmp_path),
        train_dataset=dataset["train"],
        eval_dataset=dataset["test"],
        processing_class=AutoTokenizer.from_pretrained(models.causal),
    )
    result = trainer.train()
    assert result.global_step == 2
    assert "eval_loss" in trainer.evaluate()


def test_llamafactory_reads_every_chat_row_of_its_flavour(chat_project, tmp_path):
    from datasets import load_dataset

    from tests.consumers import consumer_module

    converter = consumer_module("llamafactory.data.converter")
    parser = consumer_module("llamafactory.data.parser")
    for fmt in ("pairwise", "consensus"):
        folder = folder_of(chat_project, tmp_path / fmt, fmt, flavour="llamafactory")
        names = [f"chatbot_comparisons_{fmt}", f"chatbot_comparisons_{fmt}_test"]
        for attr in parser.get_dataset_list(names, str(folder)):
            assert attr.load_from == "file" and attr.ranking and attr.formatting == "sharegpt"
            rows = load_dataset(
                "json",
                data_files=str(folder / attr.dataset_name),
                split=attr.split,
                cache_dir=str(tmp_path / "cache"),
            )
            convert = converter.get_dataset_converter(attr.formatting, attr, SimpleNamespace())
            assert rows.num_rows
            for row in rows:
                aligned = convert(row)
                # An empty prompt is LLaMA-Factory skipping "an abnormal example".
                assert aligned["_system"] == "Be brief."
                assert [m["role"] for m in aligned["_prompt"]] == ["user", "assistant", "user"]
                assert [m["role"] for m in aligned["_response"]] == ["assistant", "assistant"]
                assert aligned["_response"][0]["content"] == row["chosen"]["content"]


def test_llamafactory_drops_the_rows_of_the_plain_trl_shape(chat_project, tmp_path):
    """Why the flavour exists: LLaMA-Factory's ranking loader skips every row whose
    chosen and rejected are one-message lists, TRL's conversational form."""
    from datasets import load_dataset

    from tests.consumers import consumer_module

    converter = consumer_module("llamafactory.data.converter")
    parser = consumer_module("llamafactory.data.parser")
    folder = folder_of(chat_project, tmp_path)
    attr = parser.DatasetAttr("file", dataset_name="data/train-00000-of-00001.jsonl")
    attr.join(
        {
            "formatting": "sharegpt",
            "ranking": True,
            "columns": {"messages": "prompt", "chosen": "chosen", "rejected": "rejected"},
            "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                     "assistant_tag": "assistant", "system_tag": "system"},
        }
    )  # fmt: skip
    rows = load_dataset("json", data_files=str(folder / attr.dataset_name), split="train")
    convert = converter.get_dataset_converter("sharegpt", attr, SimpleNamespace())
    assert all(len(convert(row)["_response"]) != 2 for row in rows)


def test_openrlhf_reads_its_flavour_with_the_chat_template_and_no_glue(
    text_project, models, tmp_path
):
    from transformers import AutoTokenizer

    from tests.consumers import consumer_module

    utils = consumer_module("openrlhf.datasets.utils")
    reward = consumer_module("openrlhf.datasets.reward_dataset")
    folder = folder_of(text_project, tmp_path, flavour="openrlhf")
    strategy = SimpleNamespace(print=lambda *a: None, is_rank_0=lambda: False)
    strategy.args = SimpleNamespace(use_ms=False)
    train = utils.blending_datasets(str(folder), None, strategy, dataset_split="train")
    test = utils.blending_datasets(str(folder), None, strategy, dataset_split="test")
    assert not set(train["prompt_id"]) & set(test["prompt_id"])
    tokenizer = AutoTokenizer.from_pretrained(models.reward)
    for row in train:
        prompt, chosen, rejected, margin = reward.preprocess_data(
            row,
            prompt_key="prompt",
            chosen_key="chosen",
            rejected_key="rejected",
            apply_chat_template=tokenizer.apply_chat_template,
        )
        # The chat template puts the roles between prompt and answer: nothing is glued.
        assert prompt == "user: Explain TCP slow start.\nassistant:"
        assert chosen.strip() == row["chosen"][0]["content"] and chosen.startswith(" ")
        assert rejected.strip() == row["rejected"][0]["content"]
        assert margin == 0  # no margin column unless asked for


# --- the README's code, as printed ------------------------------------------------------------


def readme_block(name: str) -> str:
    match = re.search(rf"<!-- tested: {name} -->\n```\w+\n(.*?)```", README.read_text(), re.S)
    assert match, f"README has no block marked {name}"
    return match.group(1)


def substituted(code: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        assert old in code, f"the README's code no longer says {old!r}"
        code = code.replace(old, new)
    return code


def test_the_readmes_trl_code_runs_as_printed(chat_project, models, tmp_path, monkeypatch):
    folder = folder_of(chat_project, tmp_path, conversational=True)
    monkeypatch.chdir(tmp_path)
    extra = "max_steps=2, report_to=[], use_cpu=True, save_strategy='no'"
    for name, model, config in [
        ("trl-reward", models.reward, 'RewardConfig(output_dir="reward-model")'),
        ("trl-dpo", models.causal, 'DPOConfig(output_dir="dpo-model")'),
    ]:
        code = substituted(
            readme_block(name),
            {
                'load_dataset("pairwise-export")': f"load_dataset({str(folder)!r})",
                "your-base-model" if name == "trl-reward" else "your-chat-model": str(model),
                config: config.replace(")", f", {extra})"),
            },
        )
        scope: dict = {}
        exec(compile(code, f"README:{name}", "exec"), scope)  # noqa: S102 - our README's code
        assert scope["trainer"].state.global_step == 2, name


def test_the_readmes_openrlhf_flags_are_openrlhfs_and_the_manifests(text_project, tmp_path):
    from tests.consumers import CONSUMERS

    block = readme_block("openrlhf")
    # Every flag of OpenRLHF's (deepspeed's own --module aside).
    flags = set(re.findall(r"--(?:data|eval|model)\.[\w.]+", block))
    declared = set(re.findall(r'add_argument\(\s*"(--[\w.]+)"', (
        CONSUMERS / "openrlhf" / "cli" / "train_rm.py"
    ).read_text()))  # fmt: skip
    assert flags <= declared, flags - declared
    folder = folder_of(text_project, tmp_path, flavour="openrlhf")
    manifest_flags = {flag.split()[0] for flag in _manifest_of(folder)["trainer"]["openrlhf_flags"]}
    assert manifest_flags <= flags


def _manifest_of(folder: Path) -> dict:
    from exports.models import Export

    export = Export.objects.get(pk=int(folder.name.removeprefix("export-")))
    return export.manifest


def test_the_readmes_llamafactory_entry_is_the_one_in_the_folder(chat_project, tmp_path):
    from tests.consumers import consumer_module

    folder = folder_of(chat_project, tmp_path, flavour="llamafactory")
    shipped = json.loads((folder / "dataset_info.json").read_text())
    printed = json.loads(readme_block("llamafactory-info"))
    for name, entry in printed.items():
        assert shipped[name] == entry
    config = yaml.safe_load(readme_block("llamafactory"))
    parser = consumer_module("llamafactory.data.parser")
    attrs = parser.get_dataset_list([config["dataset"], config["eval_dataset"]], str(folder))
    assert [a.dataset_name for a in attrs] == [
        "data/train-00000-of-00001.jsonl",
        "data/test-00000-of-00001.jsonl",
    ]
