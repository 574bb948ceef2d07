! Sample the 2D Ising model through the C ABI of rsmi (ISO_C_BINDING), coarse-grain the
! samples with the 2x2 majority rule, and print energy, magnetisation and the coarse
! energy. Build (see bindings/c/run-tests.sh):
!   gfortran -O2 bindings/c/examples/sample_coarsen.f90 -L target/release -lrsmi_ffi \
!            -Wl,-rpath,$PWD/target/release -o sample_coarsen_f
module rsmi
  use, intrinsic :: iso_c_binding
  implicit none
  integer(c_int), parameter :: RSMI_OK = 0
  integer(c_int32_t), parameter :: RSMI_DIM_2 = 2, RSMI_LAYOUT_REPLICA = 0, &
       RSMI_METROPOLIS = 0, RSMI_DRAW_ARGMAX = 1
  interface
     function rsmi_ising_new(dim, size, layout, algorithm, temperature, field, seed, job, &
          lane, out) bind(c, name='rsmi_ising_new') result(rc)
       import :: c_int, c_int32_t, c_size_t, c_double, c_int64_t, c_ptr
       integer(c_int32_t), value :: dim, layout, algorithm
       integer(c_size_t), value :: size
       real(c_double), value :: temperature, field
       integer(c_int64_t), value :: seed, job, lane   ! uint64_t: same bits
       type(c_ptr), intent(out) :: out
       integer(c_int) :: rc
     end function
     function rsmi_ising_shape(h, chains, sites, packed_len) bind(c, name='rsmi_ising_shape') &
          result(rc)
       import :: c_int, c_ptr, c_size_t
       type(c_ptr), value :: h
       integer(c_size_t), intent(out) :: chains, sites, packed_len
       integer(c_int) :: rc
     end function
     function rsmi_ising_sweep(h, sweeps) bind(c, name='rsmi_ising_sweep') result(rc)
       import :: c_int, c_ptr, c_int64_t
       type(c_ptr), value :: h
       integer(c_int64_t), value :: sweeps
       integer(c_int) :: rc
     end function
     function rsmi_ising_global_flip(h) bind(c, name='rsmi_ising_global_flip') result(rc)
       import :: c_int, c_ptr
       type(c_ptr), value :: h
       integer(c_int) :: rc
     end function
     function rsmi_ising_measure(h, e, m, n) bind(c, name='rsmi_ising_measure') result(rc)
       import :: c_int, c_ptr, c_int64_t, c_size_t
       type(c_ptr), value :: h
       integer(c_int64_t), intent(out) :: e(*), m(*)
       integer(c_size_t), value :: n
       integer(c_int) :: rc
     end function
     function rsmi_ising_export_all(h, out, n) bind(c, name='rsmi_ising_export_all') result(rc)
       import :: c_int, c_ptr, c_int8_t, c_size_t
       type(c_ptr), value :: h
       integer(c_int8_t), intent(out) :: out(*)
       integer(c_size_t), value :: n
       integer(c_int) :: rc
     end function
     function rsmi_ising_free(h) bind(c, name='rsmi_ising_free') result(rc)
       import :: c_int, c_ptr
       type(c_ptr), value :: h
       integer(c_int) :: rc
     end function
     function rsmi_rule_new(dim, block, weights, n, bias, out) bind(c, name='rsmi_rule_new') &
          result(rc)
       import :: c_int, c_int32_t, c_size_t, c_double, c_ptr
       integer(c_int32_t), value :: dim
       integer(c_size_t), value :: block, n
       real(c_double), intent(in) :: weights(*)
       real(c_double), value :: bias
       type(c_ptr), intent(out) :: out
       integer(c_int) :: rc
     end function
     function rsmi_rule_coarse_len(r, side, n) bind(c, name='rsmi_rule_coarse_len') result(rc)
       import :: c_int, c_ptr, c_size_t
       type(c_ptr), value :: r
       integer(c_size_t), value :: side
       integer(c_size_t), intent(out) :: n
       integer(c_int) :: rc
     end function
     function rsmi_rule_apply(r, fine, fine_len, side, samples, draw, stream, coarse, &
          coarse_len) bind(c, name='rsmi_rule_apply') result(rc)
       import :: c_int, c_int32_t, c_ptr, c_size_t, c_int8_t
       type(c_ptr), value :: r, stream
       integer(c_int8_t), intent(in) :: fine(*)
       integer(c_int8_t), intent(out) :: coarse(*)
       integer(c_size_t), value :: fine_len, side, samples, coarse_len
       integer(c_int32_t), value :: draw
       integer(c_int) :: rc
     end function
     function rsmi_rule_free(r) bind(c, name='rsmi_rule_free') result(rc)
       import :: c_int, c_ptr
       type(c_ptr), value :: r
       integer(c_int) :: rc
     end function
     function rsmi_stream_new(seed, job, lane, out) bind(c, name='rsmi_stream_new') result(rc)
       import :: c_int, c_int64_t, c_ptr
       integer(c_int64_t), value :: seed, job, lane
       type(c_ptr), intent(out) :: out
       integer(c_int) :: rc
     end function
     function rsmi_stream_free(s) bind(c, name='rsmi_stream_free') result(rc)
       import :: c_int, c_ptr
       type(c_ptr), value :: s
       integer(c_int) :: rc
     end function
     function rsmi_last_error_message() bind(c, name='rsmi_last_error_message') result(p)
       import :: c_ptr
       type(c_ptr) :: p
     end function
     function c_strlen(s) bind(c, name='strlen') result(n)
       import :: c_ptr, c_size_t
       type(c_ptr), value :: s
       integer(c_size_t) :: n
     end function
  end interface
contains
  ! Stop with the library's sentence when a call failed.
  subroutine check(rc, what)
    integer(c_int), intent(in) :: rc
    character(*), intent(in) :: what
    character(kind=c_char), pointer :: msg(:)
    type(c_ptr) :: p
    if (rc == RSMI_OK) return
    p = rsmi_last_error_message()
    call c_f_pointer(p, msg, [c_strlen(p)])
    write (*, '(a, ": ", *(a))') what, msg
    error stop 1
  end subroutine

  ! Bond energy per site of configuration `cfg` (packed rows of (l+7)/8 bytes).
  real(c_double) function energy(cfg, l)
    integer(c_int8_t), intent(in) :: cfg(:)
    integer, intent(in) :: l
    integer :: x, y, e
    e = 0
    do y = 0, l - 1
       do x = 0, l - 1
          e = e - spin(x, y) * (spin(modulo(x + 1, l), y) + spin(x, modulo(y + 1, l)))
       end do
    end do
    energy = real(e, c_double) / (l * l)
  contains
    integer function spin(x, y)
      integer, intent(in) :: x, y
      integer :: rb
      rb = (l + 7) / 8
      if (btest(int(cfg(y * rb + x / 8 + 1)), 7 - mod(x, 8))) then
         spin = 1
      else
         spin = -1
      end if
    end function
  end function
end module

program sample_coarsen
  use rsmi
  implicit none
  integer(c_size_t), parameter :: L = 16
  real(c_double), parameter :: T_C = 2.269185314213022_c_double
  type(c_ptr) :: ising, rule, stream
  integer(c_size_t) :: chains, sites, packed, coarse_len, c
  integer(c_int64_t), allocatable :: e(:), m(:)
  integer(c_int8_t), allocatable :: fine(:), coarse(:)
  real(c_double) :: e_mean, m2_mean, e_coarse
  integer :: i, n_meas

  call check(rsmi_ising_new(RSMI_DIM_2, L, RSMI_LAYOUT_REPLICA, RSMI_METROPOLIS, T_C, &
       0.0_c_double, 7_c_int64_t, 0_c_int64_t, 0_c_int64_t, ising), 'rsmi_ising_new')
  call check(rsmi_ising_shape(ising, chains, sites, packed), 'rsmi_ising_shape')
  allocate (e(chains), m(chains), fine(chains * packed))

  call check(rsmi_ising_sweep(ising, 500_c_int64_t), 'burn-in')
  e_mean = 0; m2_mean = 0; n_meas = 200
  do i = 1, n_meas
     call check(rsmi_ising_sweep(ising, 2_c_int64_t), 'rsmi_ising_sweep')
     call check(rsmi_ising_global_flip(ising), 'rsmi_ising_global_flip')
     call check(rsmi_ising_measure(ising, e, m, chains), 'rsmi_ising_measure')
     e_mean = e_mean + sum(real(e, c_double)) / (sites * chains * n_meas)
     m2_mean = m2_mean + sum(real(m, c_double)**2) / (real(sites, c_double)**2 * chains * n_meas)
  end do
  call check(rsmi_ising_export_all(ising, fine, chains * packed), 'rsmi_ising_export_all')

  call check(rsmi_rule_new(RSMI_DIM_2, 2_c_size_t, [1d0, 1d0, 1d0, 1d0], 4_c_size_t, 0d0, rule), &
       'rsmi_rule_new')
  call check(rsmi_rule_coarse_len(rule, L, coarse_len), 'rsmi_rule_coarse_len')
  allocate (coarse(chains * coarse_len))
  call check(rsmi_stream_new(7_c_int64_t, 0_c_int64_t, 0_c_int64_t, stream), 'rsmi_stream_new')
  call check(rsmi_rule_apply(rule, fine, chains * packed, L, chains, RSMI_DRAW_ARGMAX, stream, &
       coarse, chains * coarse_len), 'rsmi_rule_apply')
  e_coarse = 0
  do c = 0, chains - 1
     e_coarse = e_coarse + energy(coarse(c * coarse_len + 1:(c + 1) * coarse_len), int(L / 2)) &
          / chains
  end do

  print '(i0, " chains of ", i0, "x", i0, " at T_c: <e> = ", f8.4, ", <m^2> = ", f7.4)', &
       chains, L, L, e_mean, m2_mean
  print '("after the 2x2 majority rule (", i0, "x", i0, "): <e> = ", f8.4)', L / 2, L / 2, e_coarse
  if (e_mean > -1.3 .or. e_mean < -1.6 .or. e_coarse > -0.9 .or. e_coarse < -1.6) then
     print '(a)', 'FAIL: energies outside the expected range'
     error stop 1
  end if

  call check(rsmi_stream_free(stream), 'rsmi_stream_free')
  call check(rsmi_rule_free(rule), 'rsmi_rule_free')
  call check(rsmi_ising_free(ising), 'rsmi_ising_free')
  print '(a)', 'fortran example: ok'
end program
