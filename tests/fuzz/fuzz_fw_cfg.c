/*
 * libFuzzer target for the fw_cfg device (devices/fw_cfg.c): the input is a
 * program of selector/data port accesses, DMA address register accesses of
 * every width and offset, DMA transfers through a fw_cfg_dma_access the
 * program places anywhere (in RAM, across a region's end, outside RAM),
 * raw writes to guest RAM, save/load round trips and hostile state loads.
 * Guest RAM is small and laid out like a machine's (fuzz_input.h), low
 * only or low and high around the 32-bit hole.
 * Invariants: a transfer whose control word lies in RAM completes with 0
 * or FW_CFG_DMA_CTL_ERROR there; a saved state loads into a fresh device
 * and saves back to the same bytes.
 */
#include <endian.h>
#include <linux/qemu_fw_cfg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/fw_cfg.h"
#include "fuzz_input.h"
#include "util/error.h"
#include "util/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_SIZE (64u << 10)
#define MAX_OPS 256

static uint8_t file_a[300], file_b[3];

static struct lvm_fw_cfg *make(const struct lvm_memory *mem)
{
	struct lvm_fw_cfg_info info = { mem->size, mem->size, 2 };
	struct lvm_fw_cfg *f = lvm_fw_cfg_new(&info);
	if (!f || lvm_fw_cfg_add_file(f, "opt/a", file_a, sizeof(file_a)) < 0 ||
	    lvm_fw_cfg_add_file(f, "opt/b", file_b, sizeof(file_b)) < 0 ||
	    lvm_fw_cfg_enable_dma(f, mem) < 0)
		abort();
	return f;
}

/* A guest-physical address: mostly in or near RAM, sometimes anywhere. */
static uint64_t pick_gpa(const struct lvm_memory *mem, struct fz *in)
{
	uint8_t how = fz_u8(in);
	uint32_t off = fz_u32(in);
	const struct lvm_memory_region *r = &mem->regions[how % mem->nregions];
	switch (how >> 4 & 3) {
	case 0:
	case 1: return r->gpa + off % r->size;
	case 2: return r->gpa + r->size - 1 - off % 32; /* at a region's end */
	default: return (uint64_t)off << 32 | fz_u32(in);
	}
}

/* The selector and data ports (at most 4 bytes: port I/O), or the DMA
 * address register (8 too: an MMIO machine's width). */
static void port_access(struct lvm_fw_cfg *f, struct fz *in, bool dma)
{
	static const uint32_t sizes[] = { 1, 2, 4, 8 };
	uint8_t how = fz_u8(in);
	uint32_t n = sizes[how & 3];
	bool write = how & 0x80;
	uint8_t buf[8];
	fz_bytes(in, buf, sizeof(buf));
	if (dma)
		lvm_fw_cfg_dma_io(f, (how >> 2) & 7, buf, n, write);
	else
		lvm_fw_cfg_io(f, (how >> 2) & 1, buf, n > 4 ? 4 : n, write);
}

static void transfer(struct lvm_fw_cfg *f, const struct lvm_memory *mem, struct fz *in)
{
	uint64_t at = pick_gpa(mem, in);
	uint32_t control = fz_u32(in), length = fz_u16(in);
	if (fz_u8(in) == 0xff)
		length = fz_u32(in);
	uint64_t target = pick_gpa(mem, in);
	struct fw_cfg_dma_access a = { htobe32(control), htobe32(length), htobe64(target) };
	uint8_t *p = lvm_memory_ptr(mem, at, sizeof(a));
	if (p)
		memcpy(p, &a, sizeof(a));
	uint32_t hi = htobe32((uint32_t)(at >> 32)), lo = htobe32((uint32_t)at);
	lvm_fw_cfg_dma_io(f, 0, (uint8_t *)&hi, 4, true);
	lvm_fw_cfg_dma_io(f, 4, (uint8_t *)&lo, 4, true);
	uint8_t *ctl = lvm_memory_ptr(mem, at, 4);
	if (ctl) {
		uint32_t done;
		memcpy(&done, ctl, 4);
		if (be32toh(done) & ~(uint32_t)FW_CFG_DMA_CTL_ERROR) {
			fprintf(stderr, "control word 0x%x after a transfer\n", be32toh(done));
			abort();
		}
	}
}

static void save(struct lvm_fw_cfg *f, struct lvm_state_writer *w)
{
	lvm_state_writer_init(w);
	lvm_state_begin(w, "fw_cfg");
	lvm_fw_cfg_save(f, w);
	if (lvm_state_finish(w) < 0)
		abort();
}

/* What one device saves, a fresh one loads and saves back unchanged. */
static void round_trip(struct lvm_fw_cfg *f, const struct lvm_memory *mem)
{
	struct lvm_state_writer w, w2;
	save(f, &w);
	struct lvm_fw_cfg *g = make(mem);
	struct lvm_state_reader r;
	if (lvm_state_section(w.buf, w.len, "fw_cfg", &r) < 0 || lvm_fw_cfg_load(g, &r) < 0 ||
	    lvm_state_section_done(&r) < 0) {
		fprintf(stderr, "load: %s (%s)\n", lvm_error(), r.why);
		abort();
	}
	save(g, &w2);
	if (w.len != w2.len || memcmp(w.buf, w2.buf, w.len) != 0)
		abort();
	lvm_state_writer_free(&w);
	lvm_state_writer_free(&w2);
	lvm_fw_cfg_free(g);
}

/* Hostile section bytes into the live device: loaded or refused, never more. */
static void hostile_load(struct lvm_fw_cfg *f, struct fz *in)
{
	uint8_t bytes[16];
	size_t n = fz_u8(in) % (sizeof(bytes) + 1);
	fz_bytes(in, bytes, n);
	struct lvm_state_reader r = { .p = bytes, .len = n };
	if (lvm_fw_cfg_load(f, &r) == 0)
		lvm_state_section_done(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz in = { data, size };
	struct lvm_memory mem;
	fz_mem_init(&mem, RAM_SIZE, fz_u8(&in) & 1, 0);
	memset(mem.host, 0, RAM_SIZE); /* the cached RAM starts clean each time */
	for (size_t i = 0; i < sizeof(file_a); i++)
		file_a[i] = (uint8_t)i;
	struct lvm_fw_cfg *f = make(&mem);
	for (int op = 0; op < MAX_OPS && in.n; op++) {
		switch (fz_u8(&in) % 7) {
		case 0: port_access(f, &in, false); break;
		case 1: port_access(f, &in, true); break;
		case 2:
		case 3: transfer(f, &mem, &in); break;
		case 4: {
			uint8_t *p = lvm_memory_ptr(&mem, pick_gpa(&mem, &in), 8);
			if (p)
				fz_bytes(&in, p, 8);
			break;
		}
		case 5: round_trip(f, &mem); break;
		default: hostile_load(f, &in); break;
		}
	}
	lvm_fw_cfg_free(f);
	fz_mem_free(&mem);
	return 0;
}
