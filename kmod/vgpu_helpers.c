// SPDX-License-Identifier: GPL-2.0
/*
 * C helpers for vgpu.ko where the Rust abstractions of 7.2 stop: inline
 * functions and macros that have no rust_helper_* export.
 */
#include <linux/pci.h>
#include <asm/barrier.h>

int vgpu_pci_domain(struct pci_dev *pdev);
void vgpu_dma_rmb(void);
void vgpu_dma_mb(void);

int vgpu_pci_domain(struct pci_dev *pdev)
{
	return pci_domain_nr(pdev->bus);
}

/* Orders DMA-coherent loads before later loads (completion entries after cq_tail). */
void vgpu_dma_rmb(void)
{
	dma_rmb();
}

/* Orders DMA-coherent loads before later stores (cq_head after the entries). */
void vgpu_dma_mb(void)
{
	dma_mb();
}
