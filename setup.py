from setuptools import find_packages, setup

setup(
    name="supernet",
    version="0.1.0",
    description="Hardware-aware one-shot neural architecture search: binarized path gates, "
                "shared weights, latency lookup tables, derive-and-retrain of NASNet-style cells",
    packages=find_packages(include=["supernet", "supernet.*"]),
    # the hydra configs and the shipped latency tables travel with the package: the commands work anywhere
    package_data={"supernet": ["conf/**/*.yaml", "latency_tables/*.yaml"],
                  "supernet.genotypes": ["*.json"]},
    entry_points={"console_scripts": [
        f"supernet-{command}=supernet.apps.{module}:main" for command, module in (
            ("search", "search"), ("derive", "derive"), ("retrain", "retrain"), ("profile", "profile_latency"),
            ("validate", "validate_latency"), ("summarize", "summarize"), ("fit-latency", "fit_latency"),
            ("import-latency", "import_latency"))]},
    python_requires=">=3.10",
    install_requires=[
        "torch>=2.2,<3",
        "torchvision>=0.17,<1",
        "timm>=1.0,<2",
        "numpy>=1.24,<3",
        "hydra-core>=1.3,<1.4",
        "hydra-joblib-launcher>=1.2,<1.3",
        "omegaconf>=2.3,<2.4",
        "pyyaml>=6,<7",
        "scikit-learn>=1.3,<2",
        "scipy>=1.10,<2",               # the latency fit (NNLS) and Kendall tau
        "matplotlib>=3.7,<4",
        "tqdm>=4.60,<5",
    ],
    extras_require={
        "dev": ["pytest>=7,<10", "pytest-xdist>=3,<4", "ruff>=0.15,<0.18", "setuptools>=70.1,<100",
                "tensorboard>=2.14,<3",
                "onnx>=1.16,<2", "onnxruntime>=1.18,<2", "onnxscript>=0.3,<1"],
        "slurm": ["hydra-submitit-launcher>=1.2,<1.3"],
        "tensorboard": ["tensorboard>=2.14,<3"],
    },
)
