// The flash of ember's qemu-mps2-an385 board: a block device for vfs.VfsLfs2 over a memory
// region that the host backs with the board's flash image.
//
// Why a memory region and not semihosting file calls: semihosting lets the guest open any
// host file by name, and code on the board can issue the call itself (inline assembler,
// native .mpy code), so no check inside the firmware can confine it. ember runs QEMU without
// semihosting, and the flash image is a shared file mapping behind the machine's PSRAM
// (QEMU's memory-backend-file, share=on): a store to the region is a write to the image, so
// when the power is cut (QEMU killed) the image holds exactly what had been written, and a
// program on the board reaches no host file but its own image.
//
// The filesystem takes the first EMBER_FLASH_BYTES of the region in blocks of
// EMBER_BLOCK_SIZE: the profile's fs_bytes and block_size, set by ember's build.
//
//     import ember_qemu, vfs; vfs.VfsLfs2(ember_qemu.Flash())

#include <string.h>

#include "py/runtime.h"
#include "py/mperrno.h"
#include "extmod/vfs.h"

#include "board.h"

#if !defined(EMBER_FLASH_BYTES) || !defined(EMBER_BLOCK_SIZE)
#error "EMBER_FLASH_BYTES and EMBER_BLOCK_SIZE come from the board profile"
#endif
#if EMBER_FLASH_BYTES > EMBER_FLASH_REGION_BYTES || EMBER_FLASH_BYTES % EMBER_BLOCK_SIZE
#error "EMBER_FLASH_BYTES must be whole blocks within the 16 MiB region"
#endif

#define FLASH_BLOCKS (EMBER_FLASH_BYTES / EMBER_BLOCK_SIZE)

typedef struct {
    mp_obj_base_t base;
} ember_flash_obj_t;

static const mp_obj_type_t ember_flash_type;
static const ember_flash_obj_t ember_flash_obj = {{&ember_flash_type}};

static uint8_t *flash_at(mp_obj_t block_in, mp_obj_t offset_in, size_t len) {
    mp_int_t block = mp_obj_get_int(block_in);
    mp_int_t offset = offset_in == MP_OBJ_NULL ? 0 : mp_obj_get_int(offset_in);
    mp_int_t start = block * EMBER_BLOCK_SIZE + offset;
    if (block < 0 || offset < 0 || start < 0 || (size_t)start + len > EMBER_FLASH_BYTES) {
        mp_raise_OSError(MP_EIO);
    }
    return (uint8_t *)EMBER_FLASH_BASE + start;
}

static mp_obj_t ember_flash_make_new(const mp_obj_type_t *type, size_t n_args, size_t n_kw,
    const mp_obj_t *args) {
    mp_arg_check_num(n_args, n_kw, 0, 0, false);
    return MP_OBJ_FROM_PTR(&ember_flash_obj);
}

static mp_obj_t ember_flash_readblocks(size_t n_args, const mp_obj_t *args) {
    mp_buffer_info_t buf;
    mp_get_buffer_raise(args[2], &buf, MP_BUFFER_WRITE);
    memcpy(buf.buf, flash_at(args[1], n_args > 3 ? args[3] : MP_OBJ_NULL, buf.len), buf.len);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ember_flash_readblocks_obj, 3, 4,
    ember_flash_readblocks);

static mp_obj_t ember_flash_writeblocks(size_t n_args, const mp_obj_t *args) {
    mp_buffer_info_t buf;
    mp_get_buffer_raise(args[2], &buf, MP_BUFFER_READ);
    memcpy(flash_at(args[1], n_args > 3 ? args[3] : MP_OBJ_NULL, buf.len), buf.buf, buf.len);
    return mp_const_none;
}
static MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ember_flash_writeblocks_obj, 3, 4,
    ember_flash_writeblocks);

static mp_obj_t ember_flash_ioctl(mp_obj_t self_in, mp_obj_t op_in, mp_obj_t arg_in) {
    switch (mp_obj_get_int(op_in)) {
        case MP_BLOCKDEV_IOCTL_BLOCK_COUNT:
            return MP_OBJ_NEW_SMALL_INT(FLASH_BLOCKS);
        case MP_BLOCKDEV_IOCTL_BLOCK_SIZE:
            return MP_OBJ_NEW_SMALL_INT(EMBER_BLOCK_SIZE);
        case MP_BLOCKDEV_IOCTL_BLOCK_ERASE:
            memset(flash_at(arg_in, MP_OBJ_NULL, EMBER_BLOCK_SIZE), 0xff, EMBER_BLOCK_SIZE);
            return MP_OBJ_NEW_SMALL_INT(0);
        default: // init, deinit, sync: a store is already in the image
            return MP_OBJ_NEW_SMALL_INT(0);
    }
}
static MP_DEFINE_CONST_FUN_OBJ_3(ember_flash_ioctl_obj, ember_flash_ioctl);

static const mp_rom_map_elem_t ember_flash_locals_table[] = {
    { MP_ROM_QSTR(MP_QSTR_readblocks), MP_ROM_PTR(&ember_flash_readblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_writeblocks), MP_ROM_PTR(&ember_flash_writeblocks_obj) },
    { MP_ROM_QSTR(MP_QSTR_ioctl), MP_ROM_PTR(&ember_flash_ioctl_obj) },
};
static MP_DEFINE_CONST_DICT(ember_flash_locals, ember_flash_locals_table);

static MP_DEFINE_CONST_OBJ_TYPE(ember_flash_type, MP_QSTR_Flash, MP_TYPE_FLAG_NONE,
    make_new, ember_flash_make_new, locals_dict, &ember_flash_locals);

static const mp_rom_map_elem_t ember_qemu_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_ember_qemu) },
    { MP_ROM_QSTR(MP_QSTR_Flash), MP_ROM_PTR(&ember_flash_type) },
};
static MP_DEFINE_CONST_DICT(ember_qemu_globals, ember_qemu_globals_table);

const mp_obj_module_t ember_qemu_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&ember_qemu_globals,
};

MP_REGISTER_MODULE(MP_QSTR_ember_qemu, ember_qemu_module);
