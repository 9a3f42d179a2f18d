#include "npy.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <sstream>
#include <stdexcept>

namespace pyproc::host {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr size_t kHeaderAlignment = 64;  // numpy aligns the data to 64 bytes

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& reason) {
    throw std::runtime_error("'" + path.string() + "' " + reason);
}

// Parses the Python dict literal of an .npy header, e.g.
// {'descr': '<i8', 'fortran_order': False, 'shape': (10, 4), }
class HeaderDictParser {
public:
    HeaderDictParser(const std::string& text, const std::filesystem::path& path)
        : text_(text), path_(path) {}

    void parse_into(NpyHeader& header) {
        bool seen_descr = false, seen_order = false, seen_shape = false;
        expect('{');
        while (peek() != '}') {
            std::string key = parse_string();
            expect(':');
            if (key == "descr") {
                if (peek() != '\'' && peek() != '"') fail(path_, "has a structured dtype, which is not supported");
                header.descr = parse_string();
                seen_descr = true;
            } else if (key == "fortran_order") {
                header.fortran_order = parse_bool();
                seen_order = true;
            } else if (key == "shape") {
                header.shape = parse_shape();
                seen_shape = true;
            } else {
                fail(path_, "has an unexpected key '" + key + "' in its .npy header");
            }
            if (peek() == ',') ++pos_;
        }
        if (!seen_descr || !seen_order || !seen_shape)
            fail(path_, "has an .npy header without descr, fortran_order and shape");
    }

private:
    const std::string& text_;
    const std::filesystem::path& path_;
    size_t pos_ = 0;

    char peek() {
        while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
        if (pos_ >= text_.size()) fail(path_, "has a truncated .npy header");
        return text_[pos_];
    }
    void expect(char c) {
        if (peek() != c) fail(path_, std::string("has a malformed .npy header (expected '") + c + "')");
        ++pos_;
    }
    std::string parse_string() {
        char quote = peek();
        if (quote != '\'' && quote != '"') fail(path_, "has a malformed .npy header (expected a string)");
        size_t end = text_.find(quote, pos_ + 1);
        if (end == std::string::npos) fail(path_, "has a truncated .npy header");
        std::string value = text_.substr(pos_ + 1, end - pos_ - 1);
        pos_ = end + 1;
        return value;
    }
    bool parse_bool() {
        peek();
        for (const char* word : {"True", "False"}) {
            if (text_.compare(pos_, std::strlen(word), word) == 0) {
                pos_ += std::strlen(word);
                return word[0] == 'T';
            }
        }
        fail(path_, "has a malformed .npy header (fortran_order is not True or False)");
    }
    std::vector<size_t> parse_shape() {
        std::vector<size_t> shape;
        expect('(');
        while (peek() != ')') {
            if (!std::isdigit(static_cast<unsigned char>(text_[pos_])))
                fail(path_, "has a malformed .npy header (shape is not a tuple of integers)");
            size_t dim = 0;
            const auto [end, error] = std::from_chars(text_.data() + pos_, text_.data() + text_.size(), dim);
            if (error != std::errc()) fail(path_, "has a malformed .npy header (a dimension is too large)");
            shape.push_back(dim);
            pos_ = static_cast<size_t>(end - text_.data());
            if (peek() == ',') ++pos_;
        }
        ++pos_;
        return shape;
    }
};

size_t item_size_of(const std::string& descr, const std::filesystem::path& path) {
    // numpy writes single bytes as "|u1", but "<u1" means the same.
    static const char* const kSupported[] = {"|i1", "|u1", "<i1", "<u1", "<i2", "<u2", "<i4",
                                             "<u4", "<f4", "<i8", "<u8", "<f8"};
    for (const char* supported : kSupported)
        if (descr == supported) return static_cast<size_t>(descr[2] - '0');
    fail(path, "has dtype '" + descr + "'; supported are " +
                   "<i2 <i4 <i8 <u2 <u4 <u8 <f4 <f8 |u1 |i1 (little-endian)");
}

uint32_t read_little_endian(const unsigned char* bytes, size_t count) {
    uint32_t value = 0;
    for (size_t i = count; i-- > 0;) value = (value << 8) | bytes[i];
    return value;
}

template <typename Number>
std::string number_text(Number value) {
    std::ostringstream out;
    out << value;
    return out.str();
}

// Casting a float that does not fit (or NaN) to an integer is undefined
// behaviour, so such values are refused instead.
template <typename T, typename Stored>
bool fits(Stored value) {
    if constexpr (std::is_floating_point_v<Stored> && std::is_integral_v<T>) {
        // lowest() and max() + 1 are powers of two, so both bounds are exact in
        // floating point (max() itself may round up to max() + 1, which is harmless).
        return value >= static_cast<Stored>(std::numeric_limits<T>::lowest()) &&
               value < static_cast<Stored>(std::numeric_limits<T>::max()) + 1;
    } else {
        (void)value;
        return true;
    }
}

template <typename Stored, typename T>
void convert_elements(const char* bytes, size_t count, T* out, const std::filesystem::path& path) {
    for (size_t i = 0; i < count; ++i) {
        Stored value;
        std::memcpy(&value, bytes + i * sizeof(Stored), sizeof(Stored));
        if (!fits<T>(value))
            fail(path, "holds the value " + number_text(value) + " at index " + std::to_string(i) +
                           ", which does not fit the integer type it is read as");
        out[i] = static_cast<T>(value);
    }
}

template <typename T>
void convert_from_descr(const std::string& descr, const char* bytes, size_t count, T* out,
                        const std::filesystem::path& path) {
    const char kind = descr[1];
    const int size = descr[2] - '0';
    if (kind == 'f') {
        if (size == 4) return convert_elements<float>(bytes, count, out, path);
        return convert_elements<double>(bytes, count, out, path);
    }
    if (kind == 'i') {
        switch (size) {
            case 1: return convert_elements<int8_t>(bytes, count, out, path);
            case 2: return convert_elements<int16_t>(bytes, count, out, path);
            case 4: return convert_elements<int32_t>(bytes, count, out, path);
            default: return convert_elements<int64_t>(bytes, count, out, path);
        }
    }
    switch (size) {
        case 1: return convert_elements<uint8_t>(bytes, count, out, path);
        case 2: return convert_elements<uint16_t>(bytes, count, out, path);
        case 4: return convert_elements<uint32_t>(bytes, count, out, path);
        default: return convert_elements<uint64_t>(bytes, count, out, path);
    }
}

std::string shape_text(const std::vector<size_t>& shape) {
    std::string text = "(";
    for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
    return text + (shape.size() == 1 ? ",)" : ")");
}

// The complete format 1.0 preamble: magic, version, length, padded dict, '\n'.
std::string make_preamble(const std::string& descr, const std::vector<size_t>& shape, size_t total_size) {
    std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape_text(shape) + ", }";
    const size_t unpadded = kMagicSize + 4 + dict.size() + 1;
    if (total_size == 0) total_size = (unpadded + kHeaderAlignment - 1) / kHeaderAlignment * kHeaderAlignment;
    const size_t header_length = total_size - kMagicSize - 4;
    if (header_length > 0xffff) throw std::runtime_error("an .npy header of " + dict + " is too long for format 1.0");
    std::string preamble(kMagic, kMagicSize);
    preamble += '\x01';
    preamble += '\x00';
    preamble += static_cast<char>(header_length & 0xff);
    preamble += static_cast<char>(header_length >> 8);
    preamble += dict + std::string(total_size - unpadded, ' ') + '\n';
    return preamble;
}

}  // namespace

size_t NpyHeader::num_elements() const {
    size_t count = 1;
    for (size_t dim : shape) count *= dim;
    return count;
}

NpyHeader read_npy_header(const std::filesystem::path& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) fail(path, "cannot be opened");
    unsigned char preamble[12] = {};
    file.read(reinterpret_cast<char*>(preamble), 8);
    if (file.gcount() != 8 || std::memcmp(preamble, kMagic, kMagicSize) != 0)
        fail(path, "is not a NumPy .npy file");
    const int major = preamble[6];
    if (major < 1 || major > 3) fail(path, "uses .npy format version " + std::to_string(major) + ", not 1, 2 or 3");
    const size_t length_bytes = major == 1 ? 2 : 4;
    file.read(reinterpret_cast<char*>(preamble + 8), static_cast<std::streamsize>(length_bytes));
    if (static_cast<size_t>(file.gcount()) != length_bytes) fail(path, "has a truncated .npy header");
    const size_t header_length = read_little_endian(preamble + 8, length_bytes);
    std::error_code size_error;
    const auto file_bytes = static_cast<size_t>(std::filesystem::file_size(path, size_error));
    if (size_error || header_length > file_bytes - 8 - length_bytes)  // checked before it is allocated
        fail(path, "has a truncated .npy header");
    std::string text(header_length, '\0');
    file.read(text.data(), static_cast<std::streamsize>(header_length));
    if (static_cast<size_t>(file.gcount()) != header_length) fail(path, "has a truncated .npy header");

    NpyHeader header;
    HeaderDictParser(text, path).parse_into(header);
    header.item_size = item_size_of(header.descr, path);
    header.data_offset = 8 + length_bytes + header_length;
    const auto nontrivial_dims = std::count_if(header.shape.begin(), header.shape.end(), [](size_t d) { return d > 1; });
    if (header.fortran_order && nontrivial_dims > 1)  // 1-D data is the same in either order
        fail(path, "is stored in Fortran order, which is not supported");
    size_t count = 1;
    for (size_t dim : header.shape) {
        if (dim != 0 && count > std::numeric_limits<size_t>::max() / dim / header.item_size)
            fail(path, "has an impossibly large shape " + shape_text(header.shape));
        count *= dim;
    }
    // The data must fit after the header: the byte count the readers compute may not wrap around.
    if (count > (std::numeric_limits<size_t>::max() - header.data_offset) / header.item_size)
        fail(path, "has an impossibly large shape " + shape_text(header.shape));
    return header;
}

template <typename T>
std::vector<T> load_npy_as(const std::filesystem::path& path, std::vector<size_t>* shape, size_t max_elements) {
    const NpyHeader header = read_npy_header(path);
    const size_t count = std::min(header.num_elements(), max_elements);
    const size_t needed_bytes = header.data_offset + header.num_elements() * header.item_size;
    const auto file_size = static_cast<size_t>(std::filesystem::file_size(path));
    if (file_size < needed_bytes)
        fail(path, "is truncated: its shape " + shape_text(header.shape) + " needs " + std::to_string(needed_bytes) +
                       " bytes but the file has " + std::to_string(file_size));

    std::string bytes(count * header.item_size, '\0');
    std::ifstream file(path, std::ios::binary);
    file.seekg(static_cast<std::streamoff>(header.data_offset));
    file.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (static_cast<size_t>(file.gcount()) != bytes.size()) fail(path, "could not be read completely");

    std::vector<T> values(count);
    convert_from_descr(header.descr, bytes.data(), count, values.data(), path);
    if (shape) *shape = header.shape;
    return values;
}

NpyByteWriter::NpyByteWriter(const std::filesystem::path& path, std::string descr, size_t item_size,
                             std::vector<size_t> row_shape)
    : path_(path), descr_(std::move(descr)), item_size_(item_size), row_shape_(std::move(row_shape)) {
    items_per_row_ = 1;
    for (size_t dim : row_shape_) items_per_row_ *= dim;
    file_.open(path_, std::ios::binary | std::ios::trunc);
    if (!file_) fail(path_, "cannot be created");
    write_header();
}

NpyByteWriter::~NpyByteWriter() {
    try {
        close();
    } catch (...) {
        // A destructor must not throw; callers who care call close() themselves.
    }
}

void NpyByteWriter::write_header() {
    std::vector<size_t> shape = row_shape_;
    // The header is sized for the largest possible row count, so patching in
    // the real count later never changes its length.
    shape.insert(shape.begin(), std::numeric_limits<size_t>::max());
    const size_t reserved_size = make_preamble(descr_, shape, 0).size();
    shape.front() = num_rows_;
    const std::string preamble = make_preamble(descr_, shape, reserved_size);
    file_.seekp(0);
    file_.write(preamble.data(), static_cast<std::streamsize>(preamble.size()));
    if (!file_) fail(path_, "could not be written");
}

void NpyByteWriter::append_items(const void* data, size_t num_items) {
    if (!file_.is_open()) fail(path_, "is already closed");
    if (items_per_row_ == 0 || num_items % items_per_row_ != 0)
        fail(path_, "was given " + std::to_string(num_items) + " values, not a whole number of rows of " +
                        std::to_string(items_per_row_));
    file_.write(static_cast<const char*>(data), static_cast<std::streamsize>(num_items * item_size_));
    if (!file_) fail(path_, "could not be written (disk full?)");
    num_rows_ += num_items / items_per_row_;
}

void NpyByteWriter::close() {
    if (!file_.is_open()) return;
    write_header();
    file_.close();
    if (!file_) fail(path_, "could not be closed");
}

template <typename T>
void save_npy(const std::filesystem::path& path, const std::vector<T>& values, std::vector<size_t> shape) {
    if (shape.empty()) shape = {values.size()};
    std::vector<size_t> row_shape(shape.begin() + 1, shape.end());
    size_t expected = 1;
    for (size_t dim : shape) expected *= dim;
    if (expected != values.size())
        fail(path, "cannot hold " + std::to_string(values.size()) + " values in shape " + shape_text(shape));
    NpyWriter<T> writer(path, row_shape);
    if (!values.empty()) writer.append(values);
    writer.close();
}

#define PYPROC_NPY_INSTANTIATE(T)                                                                      \
    template std::vector<T> load_npy_as<T>(const std::filesystem::path&, std::vector<size_t>*, size_t); \
    template void save_npy<T>(const std::filesystem::path&, const std::vector<T>&, std::vector<size_t>);
PYPROC_NPY_INSTANTIATE(int8_t)
PYPROC_NPY_INSTANTIATE(uint8_t)
PYPROC_NPY_INSTANTIATE(int16_t)
PYPROC_NPY_INSTANTIATE(uint16_t)
PYPROC_NPY_INSTANTIATE(int32_t)
PYPROC_NPY_INSTANTIATE(uint32_t)
PYPROC_NPY_INSTANTIATE(int64_t)
PYPROC_NPY_INSTANTIATE(uint64_t)
PYPROC_NPY_INSTANTIATE(float)
PYPROC_NPY_INSTANTIATE(double)
#undef PYPROC_NPY_INSTANTIATE

}  // namespace pyproc::host
