# Copyright (c) slim_plugins contributors. All rights reserved.
"""Lay out the real Fashion-MNIST for mmpretrain's ``FashionMNIST`` loader.

mmpretrain's :class:`mmpretrain.datasets.FashionMNIST` reads the four idx
files **un-gzipped** from its ``data_root``::

    data/fashion_mnist/
    ├── train-images-idx3-ubyte
    ├── train-labels-idx1-ubyte
    ├── t10k-images-idx3-ubyte
    └── t10k-labels-idx1-ubyte

It only checks that the four files exist (no md5 of the extracted files)
and, when one is missing, tries to download them, which fails offline.
This tool fills the folder from one of two offline routes:

1. ``--src DIR``: a folder holding the four idx files, gzipped or not.
2. Debian's package ``dataset-fashion-mnist`` (MIT licence), which installs
   the gzipped files under ``/usr/share/datasets/fashion-mnist``. Install it
   as root with ``apt-get install -y dataset-fashion-mnist``, or let this
   tool do so with ``--apt-install``.

Only the output folder is written (``--apt-install`` aside). Running the tool
again is a no-op when the files are in place with the expected sizes.

Note:
    In mmpretrain 1.2.0 ``MNIST.load_data_list`` picks the split from
    ``test_mode``, not from ``split``: build the test set with
    ``FashionMNIST(data_root, split='test', test_mode=True)``.

Example:
    python tools/data/prepare_fashion_mnist.py
    python tools/data/prepare_fashion_mnist.py --src ~/fmnist --out data/fm
"""
import argparse
import gzip
import os
import os.path as osp
import shutil
import struct
import subprocess
import sys
from typing import Dict, List, Optional, Tuple

DEBIAN_PACKAGE = 'dataset-fashion-mnist'
DEBIAN_DIR = '/usr/share/datasets/fashion-mnist'
DEFAULT_OUT = osp.join('data', 'fashion_mnist')

# File stem -> (idx magic number, number of samples in the real dataset).
IDX_FILES: Dict[str, Tuple[int, int]] = {
    'train-images-idx3-ubyte': (2051, 60000),
    'train-labels-idx1-ubyte': (2049, 60000),
    't10k-images-idx3-ubyte': (2051, 10000),
    't10k-labels-idx1-ubyte': (2049, 10000),
}

ROUTES_HELP = (
    'Fashion-MNIST can be prepared offline in two ways:\n'
    '  1. pass --src DIR, a folder with the 4 idx files (gzipped or not): ' +
    ', '.join(IDX_FILES) + ';\n'
    f'  2. install Debian\'s package as root: apt-get install -y '
    f'{DEBIAN_PACKAGE} (files go to {DEBIAN_DIR}), or rerun this tool as '
    'root with --apt-install.')


def _find_sources(src_dir: str) -> Tuple[Dict[str, str], List[str]]:
    """Map every idx stem to its file in ``src_dir`` (raw preferred).

    Returns:
        tuple[dict, list]: Found stem -> path, and the missing stems.
    """
    found, missing = {}, []
    for stem in IDX_FILES:
        for name in (stem, stem + '.gz'):
            path = osp.join(src_dir, name)
            if osp.isfile(path):
                found[stem] = path
                break
        else:
            missing.append(stem)
    return found, missing


def _open(path: str):
    """Open an idx file for binary reading, un-gzipping ``*.gz``."""
    return gzip.open(path, 'rb') if path.endswith('.gz') else open(path, 'rb')


def _read_header(path: str, stem: str) -> Tuple[int, int]:
    """Check the idx header of ``path`` and return its expected raw size.

    Returns:
        tuple[int, int]: Number of samples and the byte size of the raw file.

    Raises:
        ValueError: If the header does not match the file's kind.
    """
    magic, _ = IDX_FILES[stem]
    ndim = 3 if magic == 2051 else 1
    with _open(path) as f:
        header = f.read(4 * (ndim + 1))
    found = struct.unpack('>I', header[:4])[0] if len(header) >= 4 else None
    if found is not None and found != magic:
        raise ValueError(f'{path} has idx magic number {found}, but {stem} '
                         f'needs {magic}; is it the right file?')
    if len(header) < 4 * (ndim + 1):
        raise ValueError(f'{path} is too short to be an idx file.')
    fields = struct.unpack(f'>{ndim + 1}I', header)
    if ndim == 3 and fields[2:] != (28, 28):
        raise ValueError(f'{path} holds images of {fields[2:]}, but '
                         'Fashion-MNIST images are 28x28.')
    num = fields[1]
    size = len(header) + num * (28 * 28 if ndim == 3 else 1)
    return num, size


def _copy_raw(src: str, dst: str) -> None:
    """Write ``src`` (maybe gzipped) un-gzipped to ``dst`` atomically."""
    tmp = dst + '.part'
    try:
        with _open(src) as fin, open(tmp, 'wb') as fout:
            shutil.copyfileobj(fin, fout, length=1 << 20)
        os.replace(tmp, dst)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def apt_install() -> bool:
    """Install Debian's ``dataset-fashion-mnist`` package when root.

    Returns:
        bool: Whether ``apt-get`` ran and succeeded.
    """
    if not hasattr(os, 'geteuid') or os.geteuid() != 0:
        print(f'--apt-install needs root; skipped installing '
              f'{DEBIAN_PACKAGE}.')
        return False
    if shutil.which('apt-get') is None:
        print('--apt-install: apt-get not found on this system.')
        return False
    print(f'Installing {DEBIAN_PACKAGE} with apt-get ...', flush=True)
    result = subprocess.run(['apt-get', 'install', '-y', DEBIAN_PACKAGE],
                            check=False)
    return result.returncode == 0


def prepare_fashion_mnist(out_dir: str = DEFAULT_OUT,
                          src_dir: Optional[str] = None,
                          try_apt: bool = False) -> Dict[str, int]:
    """Lay out Fashion-MNIST un-gzipped under ``out_dir``.

    Args:
        out_dir (str): Folder to pass as ``data_root`` to
            :class:`mmpretrain.datasets.FashionMNIST`.
            Defaults to ``'data/fashion_mnist'``.
        src_dir (str, optional): Folder with the four idx files (gzipped or
            not). Defaults to None, which uses Debian's package files in
            ``/usr/share/datasets/fashion-mnist``.
        try_apt (bool): Install the Debian package with apt-get when it is
            missing and ``src_dir`` is None (root only). Defaults to False.

    Returns:
        dict[str, int]: Number of samples of each laid-out file.

    Raises:
        FileNotFoundError: If the source files are missing; the message names
            both routes (``--src DIR`` and the Debian package).
        ValueError: If a source file is not a Fashion-MNIST idx file, or the
            images and labels of a split disagree in count.

    Example:
        >>> counts = prepare_fashion_mnist('data/fashion_mnist')
        >>> counts['t10k-labels-idx1-ubyte']
        10000
    """
    source = src_dir if src_dir is not None else DEBIAN_DIR
    found, missing = _find_sources(source)
    if missing and src_dir is None and try_apt and apt_install():
        found, missing = _find_sources(source)
    if missing:
        raise FileNotFoundError(
            f'Fashion-MNIST files not found in {source}: missing '
            f'{", ".join(missing)} (raw or .gz).\n{ROUTES_HELP}')

    counts, sizes = {}, {}
    for stem, path in found.items():
        counts[stem], sizes[stem] = _read_header(path, stem)
    for split in ('train', 't10k'):
        n_img = counts[f'{split}-images-idx3-ubyte']
        n_lbl = counts[f'{split}-labels-idx1-ubyte']
        if n_img != n_lbl:
            raise ValueError(f'{source}: {split} has {n_img} images but '
                             f'{n_lbl} labels; the files do not belong '
                             'together.')

    os.makedirs(out_dir, exist_ok=True)
    for i, (stem, path) in enumerate(found.items(), 1):
        dst = osp.join(out_dir, stem)
        prefix = f'[{i}/{len(found)}] {stem}'
        if osp.isfile(dst) and osp.getsize(dst) == sizes[stem]:
            print(
                f'{prefix}: already in place ({counts[stem]} samples), '
                'skipped',
                flush=True)
            continue
        print(f'{prefix}: {path} -> {dst}', flush=True)
        _copy_raw(path, dst)
        if osp.getsize(dst) != sizes[stem]:
            raise ValueError(f'{path} is truncated: its header announces '
                             f'{sizes[stem]} bytes, got {osp.getsize(dst)}.')
    for stem, num in counts.items():
        expected = IDX_FILES[stem][1]
        if num != expected:
            print(f'Note: {stem} has {num} samples; the full Fashion-MNIST '
                  f'has {expected}.')
    print(f'Fashion-MNIST ready in {out_dir} '
          f'(FashionMNIST(data_root={out_dir!r})).')
    return counts


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Parse command line arguments."""
    parser = argparse.ArgumentParser(
        description='Lay out the real Fashion-MNIST (offline) for '
        "mmpretrain's FashionMNIST dataset.",
        epilog=ROUTES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        '--out',
        default=DEFAULT_OUT,
        help=f'output folder, the dataset\'s data_root (default: '
        f'{DEFAULT_OUT})')
    parser.add_argument(
        '--src',
        default=None,
        help='folder with the 4 idx files, gzipped or not (default: '
        f'{DEBIAN_DIR} from the Debian package {DEBIAN_PACKAGE})')
    parser.add_argument(
        '--apt-install',
        action='store_true',
        help=f'when root and --src is not given, install {DEBIAN_PACKAGE} '
        'with apt-get if it is missing')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point of the command line tool."""
    args = parse_args(argv)
    try:
        prepare_fashion_mnist(args.out, args.src, args.apt_install)
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    main()
