// Reading and writing NumPy .npy files (format 1.0; 2.0 and 3.0 are read too).
// Only little-endian, C-ordered, non-structured arrays are supported, which is
// what the Open Ephys GUI and numpy.save produce.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "npy.h reads and writes raw little-endian bytes; big-endian hosts are not supported"
#endif

namespace pyproc::host {

// What a .npy header says about the array that follows it.
struct NpyHeader {
    std::string descr;            // e.g. "<i8"
    bool fortran_order = false;
    std::vector<size_t> shape;    // empty for a scalar
    size_t data_offset = 0;       // byte offset of the first element
    size_t item_size = 0;         // bytes per element
    size_t num_elements() const;
};

// Parses the header of PATH; throws std::runtime_error naming the file if it
// is not a .npy file or uses a dtype or layout this reader does not handle.
NpyHeader read_npy_header(const std::filesystem::path& path);

// Loads the array in PATH converted element by element to T (static_cast),
// so e.g. an int16 file can be read as int64 or float. The data is returned in
// C order; if SHAPE is given it receives the array's shape. At most
// MAX_ELEMENTS leading elements are read (to peek at a large file's start).
// Supported file dtypes: <i2 <i4 <i8 <u2 <u4 <u8 <f4 <f8 |u1 |i1.
// T may be int8_t, uint8_t, int16_t, uint16_t, int32_t, uint32_t, int64_t,
// uint64_t, float or double.
template <typename T>
std::vector<T> load_npy_as(const std::filesystem::path& path, std::vector<size_t>* shape = nullptr,
                           size_t max_elements = std::numeric_limits<size_t>::max());

// The numpy dtype string of T, e.g. "<f4" for float.
template <typename T>
constexpr const char* npy_descr() {
    static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>, "npy arrays hold numbers");
    if constexpr (std::is_floating_point_v<T>) {
        static_assert(sizeof(T) == 4 || sizeof(T) == 8, "only float and double are supported");
        return sizeof(T) == 4 ? "<f4" : "<f8";
    } else if constexpr (std::is_signed_v<T>) {
        switch (sizeof(T)) {
            case 1: return "|i1";
            case 2: return "<i2";
            case 4: return "<i4";
            default: return "<i8";
        }
    } else {
        switch (sizeof(T)) {
            case 1: return "|u1";
            case 2: return "<u2";
            case 4: return "<u4";
            default: return "<u8";
        }
    }
}

// Writes an .npy file whose first dimension grows as rows are appended; the
// header is padded to a fixed width so the final shape can be patched in at
// close() without moving the data. Untyped core of NpyWriter<T>.
class NpyByteWriter {
public:
    // ROW_SHAPE is the shape of one row (empty for a 1-D array).
    NpyByteWriter(const std::filesystem::path& path, std::string descr, size_t item_size,
                  std::vector<size_t> row_shape);
    ~NpyByteWriter();  // closes, swallowing errors
    NpyByteWriter(const NpyByteWriter&) = delete;
    NpyByteWriter& operator=(const NpyByteWriter&) = delete;

    // Appends NUM_ITEMS elements, which must make whole rows.
    void append_items(const void* data, size_t num_items);
    // Patches the shape into the header and closes the file; idempotent.
    void close();
    size_t num_rows() const { return num_rows_; }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
    std::string descr_;
    size_t item_size_;
    std::vector<size_t> row_shape_;
    size_t items_per_row_;
    size_t num_rows_ = 0;
    std::ofstream file_;
    void write_header();
};

template <typename T>
class NpyWriter {
public:
    explicit NpyWriter(const std::filesystem::path& path, std::vector<size_t> row_shape = {})
        : bytes_(path, npy_descr<T>(), sizeof(T), std::move(row_shape)) {}
    void append(const T* values, size_t count) { bytes_.append_items(values, count); }
    void append(const std::vector<T>& values) { append(values.data(), values.size()); }
    void append(T value) { append(&value, 1); }
    void close() { bytes_.close(); }
    size_t num_rows() const { return bytes_.num_rows(); }

private:
    NpyByteWriter bytes_;
};

// Writes VALUES as one .npy file; SHAPE defaults to {values.size()}.
template <typename T>
void save_npy(const std::filesystem::path& path, const std::vector<T>& values,
              std::vector<size_t> shape = {});

}  // namespace pyproc::host
