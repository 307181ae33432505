# Copyright (c) slim_plugins contributors. All rights reserved.
import os.path as osp

from setuptools import find_packages, setup


def get_version() -> str:
    scope = {}
    with open(osp.join('slim_plugins', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


def parse_requirements(fname: str) -> list:
    """Read a requirements file, skipping comments and nested ``-r``."""
    reqs = []
    with open(fname) as f:
        for line in f:
            line = line.split('#')[0].strip()
            if line and not line.startswith('-'):
                reqs.append(line)
    return reqs


setup(
    name='slim_plugins',
    version=get_version(),
    description='Slimmable and dynamic self-supervised learning for OpenMMLab',
    long_description=open('README.md').read() if osp.exists('README.md') else '',
    long_description_content_type='text/markdown',
    packages=find_packages(exclude=('configs', 'tools', 'tests', 'projects')),
    include_package_data=True,
    python_requires='>=3.9',
    install_requires=parse_requirements('requirements/runtime.txt'),
    extras_require=dict(
        tests=parse_requirements('requirements/tests.txt'),
        optional=parse_requirements('requirements/optional.txt')),
    license='Apache License 2.0',
    zip_safe=False)
