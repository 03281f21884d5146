"""Installs `mogent_hf`; the top-level `pipelines/` folder becomes `mogent_hf.pipelines` (one copy of the code)."""

from setuptools import setup

setup(
    name="mogent_hf",
    version="0.1.0",
    description="MOGENT (masked generative object-centric transformer) and SLATE as Hugging Face models and pipelines",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    package_dir={"": "src", "mogent_hf.pipelines": "pipelines"},
    packages=["mogent_hf", "mogent_hf.data", "mogent_hf.metrics", "mogent_hf.modules", "mogent_hf.pipelines"],
    package_data={"mogent_hf.metrics": ["evaluate_modules/*/*.py"]},
    entry_points={"console_scripts": ["mogent-hf = mogent_hf.cli:main"]},
    python_requires=">=3.10",
    install_requires=[
        "torch>=2.4",
        "transformers>=5.0,<6",
        "diffusers>=0.42,<0.43",
        "huggingface_hub>=1.0",
        "safetensors",
        "numpy",
        "pillow",
        "scikit-learn",
        "scipy",
        "tqdm",
    ],
    extras_require={
        "training": ["accelerate>=1.0", "datasets>=4.0", "jinja2"],
        "metrics": ["evaluate>=0.4", "datasets>=4.0"],
        "data": ["datasets>=4.0", "h5py"],
        "demo": ["gradio>=5", "gradio_client", "datasets>=4.0"],
        "dev": [
            "pytest",
            "ruff",
            "accelerate>=1.0",
            "datasets>=4.0",
            "evaluate>=0.4",
            "h5py",
            "jinja2",
            "pandas",
            "gradio>=5",
            "gradio_client",
            "selenium",
        ],
    },
)
