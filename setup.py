"""Installs `mogent_hf`; the top-level `pipelines/` folder becomes `mogent_hf.pipelines` (one copy of the code)."""

from setuptools import setup

DEFAULT_PIPELINE = "mogent-small-full-iter15"  # as mogent_hf.cli.DEFAULT_PIPELINE_NAME (a test checks that they agree)

setup(
    name="mogent_hf",
    version="0.1.0",
    description="MOGENT (masked generative object-centric transformer) and SLATE as Hugging Face models and pipelines",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    # `checkpoints/` becomes `mogent_hf.checkpoints` in a wheel: the default pipeline of `mogent-hf` and the demo
    # (1 MB) travels as package data, so that an installed package works outside the repository and offline.
    package_dir={"": "src", "mogent_hf.pipelines": "pipelines", "mogent_hf.checkpoints": "checkpoints"},
    packages=[
        "mogent_hf",
        "mogent_hf.data",
        "mogent_hf.metrics",
        "mogent_hf.modules",
        "mogent_hf.pipelines",
        "mogent_hf.checkpoints",
    ],  # fmt: skip
    package_data={
        "mogent_hf.metrics": ["evaluate_modules/*/*.py"],
        "mogent_hf.checkpoints": [f"{DEFAULT_PIPELINE}/*.*", f"{DEFAULT_PIPELINE}/*/*.*"],
    },
    entry_points={"console_scripts": ["mogent-hf = mogent_hf.cli:main"]},
    python_requires=">=3.10",
    # Lower bounds: the versions CI tests (`.ci/run`: a fresh venv takes the newest allowed); upper bounds: the next
    # major release, whose API changes CI has not seen.
    install_requires=[
        "torch>=2.13,<3",
        "transformers>=5.25,<6",
        "diffusers>=0.42,<0.43",
        "huggingface_hub>=2.4,<3",
        "safetensors>=0.8",
        "numpy>=2.4,<3",
        "pillow>=12.3",
        "scikit-learn>=1.9,<2",
        "scipy>=1.17,<2",
        "tqdm>=4.70",
    ],
    extras_require={
        "training": ["accelerate>=1.16,<2", "datasets>=5.2,<6", "jinja2>=3.1"],
        "metrics": ["evaluate>=0.4.6,<0.5", "datasets>=5.2,<6"],
        "data": ["datasets>=5.2,<6", "h5py>=3.16"],
        "demo": ["gradio>=6.31,<7", "gradio_client>=2.7,<3", "datasets>=5.2,<6"],
        "dev": [
            "pytest>=9.2,<10",
            "ruff>=0.17,<0.18",
            "accelerate>=1.16,<2",
            "datasets>=5.2,<6",
            "evaluate>=0.4.6,<0.5",
            "h5py>=3.16",
            "jinja2>=3.1",
            "pandas>=3.1",
            "gradio>=6.31,<7",
            "gradio_client>=2.7,<3",
            "selenium>=4.51,<5",
            "setuptools>=70.1",  # builds the wheel that tests/test_wheel.py installs (bdist_wheel built in)
        ],
    },
)
