// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for vgpu.ko where the Rust abstractions of 7.2 stop: inline
 * functions that have no rust_helper_* export.
 */
#include <linux/pci.h>

int vgpu_pci_domain(struct pci_dev *pdev);

int vgpu_pci_domain(struct pci_dev *pdev)
{
	return pci_domain_nr(pdev->bus);
}
