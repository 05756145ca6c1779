# -*- coding: utf-8 -*-
# Copyright (c) etcd_wrapper.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PRIVATE to the etcd_wrapper.ops collection: its version (galaxy.yml's; a unit test keeps them
equal), the default debug image tag and the version recorded in health reports."""

from __future__ import annotations

COLLECTION_VERSION = "0.1.0"
